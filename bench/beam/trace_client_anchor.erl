%% The trace-port benchmark's anchor: OTP's own dbg:trace_client(ip, ...) with
%% a handler that only counts trace messages and driver drops ({drop, N}).
%% Protocol: started with the port to read; "report\n" on stdin prints
%% "count <Frames> <Dropped>"; "stop\n" ends the node.
-module(trace_client_anchor).
-export([main/1]).

main([PortArg]) ->
    Port = list_to_integer(PortArg),
    %% counters (atomics): the cheapest count another process can read.
    Counts = counters:new(2, []),
    Handler = fun({drop, N}, Acc) -> counters:add(Counts, 2, N), Acc;
                 (end_of_trace, Acc) -> Acc;
                 (_Trace, Acc) -> counters:add(Counts, 1, 1), Acc
              end,
    _Client = dbg:trace_client(ip, {"127.0.0.1", Port}, {Handler, ok}),
    io:format("connected~n"),
    loop(Counts).

loop(Counts) ->
    case io:get_line('') of
        "report\n" ->
            io:format("count ~w ~w~n", [counters:get(Counts, 1), counters:get(Counts, 2)]),
            loop(Counts);
        _ ->
            halt(0)
    end.
