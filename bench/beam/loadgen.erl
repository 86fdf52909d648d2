%% Trace load for benchmarks: message ping-pong between process pairs and a
%% call/return-traced function, traced through the IP trace port as fast as
%% the node can. Protocol on stdout: "port <P>", then after "go\n" on stdin
%% the load runs until <Messages> trace messages were generated; "done <Emitted> <ElapsedUs>"
%% (Emitted counts every trace message the load caused); "stop\n" on stdin then ends the node.
-module(loadgen).
-export([main/1, pinger/2, ponger/0, work/1]).

main([PortArg, MessagesArg, QueueArg]) ->
    Port = list_to_integer(PortArg),
    Messages = list_to_integer(MessagesArg),
    Queue = list_to_integer(QueueArg),
    {ok, _} = dbg:tracer(port, dbg:trace_port(ip, {Port, Queue})),
    {ok, Actual} = dbg:trace_port_control(node(), get_listen_port),
    io:format("port ~w~n", [Actual]),
    "go\n" = io:get_line(''),
    {ok, Tracer} = dbg:get_tracer(),
    true = erlang:port_command(Tracer, term_to_binary(
        {scope_clock, node(), erlang:monotonic_time(nanosecond), erlang:system_time(nanosecond)})),
    dbg:tpl(loadgen, work, 1, [{'_', [], [{return_trace}]}]),
    Self = self(),
    %% Each round trip emits 6 trace messages: send, receive (x2) and call + return_from.
    Rounds = Messages div 6,
    Pairs = 4,
    T0 = erlang:monotonic_time(microsecond),
    Pingers = [begin
                   Pong = spawn(?MODULE, ponger, []),
                   Ping = spawn(?MODULE, pinger, [Pong, Self]),
                   {ok, _} = dbg:p(Ping, [send, 'receive', call, monotonic_timestamp]),
                   {ok, _} = dbg:p(Pong, [send, 'receive', monotonic_timestamp]),
                   Ping
               end || _ <- lists:seq(1, Pairs)],
    [P ! {go, Rounds div Pairs} || P <- Pingers],
    [receive {finished, P} -> ok end || P <- Pingers],
    T1 = erlang:monotonic_time(microsecond),
    %% 6 per round trip, plus each pinger's 'receive' of go and send of finished.
    io:format("done ~w ~w~n", [(Rounds div Pairs) * Pairs * 6 + 2 * Pairs, T1 - T0]),
    %% The tracer stays open until told, so a slow client still gets every queued frame.
    "stop\n" = io:get_line(''),
    dbg:stop_clear(),
    halt(0).

pinger(Pong, Main) ->
    receive {go, N} -> loop(Pong, N), Main ! {finished, self()} end.

loop(_, 0) -> ok;
loop(Pong, N) ->
    Pong ! {ping, self(), N},
    receive {pong, N} -> ok end,
    work(N),
    loop(Pong, N - 1).

ponger() ->
    receive {ping, From, N} -> From ! {pong, N}, ponger() end.

work(N) -> N + 1.
