%% Trace load for benchmarks: message ping-pong between process pairs and a
%% call/return-traced function, traced through the IP trace port as fast as
%% the node can. Protocol on stdout: "port <P>", then after "go\n" on stdin
%% the load runs until <Messages> trace messages were generated; "done <Emitted> <ElapsedUs>"
%% (Emitted counts every trace message the load caused); "stop\n" on stdin then ends the node.
%% An optional fourth argument paces the load at that many trace messages a second
%% (0, the default: as fast as it can).
-module(loadgen).
-export([main/1, pinger/3, ponger/0, work/1]).

main([PortArg, MessagesArg, QueueArg]) -> main([PortArg, MessagesArg, QueueArg, "0"]);
main([PortArg, MessagesArg, QueueArg, RateArg]) ->
    Rate = list_to_integer(RateArg),
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
                   %% Each pinger's share of the rate, in round trips a second (0: unpaced).
                   Ping = spawn(?MODULE, pinger, [Pong, Self, Rate / (6 * Pairs)]),
                   {ok, _} = dbg:p(Ping, [send, 'receive', call, monotonic_timestamp]),
                   {ok, _} = dbg:p(Pong, [send, 'receive', monotonic_timestamp]),
                   Ping
               end || _ <- lists:seq(1, Pairs)],
    [P ! {go, Rounds div Pairs} || P <- Pingers],
    Sleeps = lists:sum([receive {finished, P, S} -> S end || P <- Pingers]),
    T1 = erlang:monotonic_time(microsecond),
    %% 6 per round trip, plus each pinger's 'receive' of go and send of finished,
    %% and a 'receive' timeout for each of a paced pinger's sleeps.
    io:format("done ~w ~w~n", [(Rounds div Pairs) * Pairs * 6 + 2 * Pairs + Sleeps, T1 - T0]),
    %% The tracer stays open until told, so a slow client still gets every queued frame.
    "stop\n" = io:get_line(''),
    dbg:stop_clear(),
    halt(0).

pinger(Pong, Main, RoundsPerSecond) ->
    receive
        {go, N} ->
            Sleeps = case RoundsPerSecond == 0 of
                true -> loop(Pong, N), 0;
                false -> paced(Pong, N, N, RoundsPerSecond, erlang:monotonic_time(microsecond), 0)
            end,
            Main ! {finished, self(), Sleeps}
    end.

loop(_, 0) -> ok;
loop(Pong, N) ->
    round_trip(Pong, N),
    loop(Pong, N - 1).

%% Round trips until as many are done as the rate allows by now, then a
%% millisecond's sleep: the rate holds on average over each millisecond. Each
%% sleep is a traced 'receive' of timeout; returns how many.
paced(_, 0, _, _, _, Sleeps) -> Sleeps;
paced(Pong, N, Total, PerSecond, T0, Sleeps) ->
    Due = (erlang:monotonic_time(microsecond) - T0) * PerSecond / 1000000,
    case Total - N < Due of
        true -> round_trip(Pong, N), paced(Pong, N - 1, Total, PerSecond, T0, Sleeps);
        false -> receive after 1 -> ok end, paced(Pong, N, Total, PerSecond, T0, Sleeps + 1)
    end.

round_trip(Pong, N) ->
    Pong ! {ping, self(), N},
    receive {pong, N} -> ok end,
    work(N).

ponger() ->
    receive {ping, From, N} -> From ! {pong, N}, ponger() end.

work(N) -> N + 1.
