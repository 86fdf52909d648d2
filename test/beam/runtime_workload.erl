%% Runtime trace events for the beam_trace_port tests: scheduling (running),
%% garbage collection, port open/close and seq_trace, through the IP trace port.
%% Protocol as in workload.erl: "port <P>", "go\n" on stdin, "pid <name> <pid>" lines, "done", "stop\n".
-module(runtime_workload).
-export([main/1, worker/0, echo/0]).

main([PortArg]) ->
    {ok, _} = dbg:tracer(port, dbg:trace_port(ip, {list_to_integer(PortArg), 50000})),
    {ok, Actual} = dbg:trace_port_control(node(), get_listen_port),
    io:format("port ~w~n", [Actual]),
    "go\n" = io:get_line(''),
    {ok, Tracer} = dbg:get_tracer(),
    seq_trace:set_system_tracer(Tracer),
    Worker = spawn(?MODULE, worker, []),
    Echo = spawn(?MODULE, echo, []),
    {ok, _} = dbg:p(Worker, [running, garbage_collection, timestamp]),
    {ok, _} = dbg:p(new_ports, [ports, timestamp]),
    Worker ! {go, self(), Echo},
    receive {worker_done, Port} -> io:format("pid worker ~w~npid echo ~w~nport_id ~w~n", [Worker, Echo, Port]) end,
    timer:sleep(300),
    io:format("done~n"),
    "stop\n" = io:get_line(''),
    halt(0).

worker() ->
    receive {go, Main, Echo} ->
        _ = lists:seq(1, 20000),
        erlang:garbage_collect(),
        Port = open_port({spawn, "true"}, []),
        receive {Port, _} -> ok after 100 -> ok end,
        catch port_close(Port),
        seq_trace:set_token(label, 17),
        seq_trace:set_token(send, true),
        seq_trace:set_token('receive', true),
        seq_trace:set_token(print, true),
        Echo ! {echo, self(), hello},
        receive {echoed, hello} -> ok end,
        seq_trace:print(17, checkpoint),
        seq_trace:set_token([]),
        Main ! {worker_done, Port},
        receive after infinity -> ok end
    end.

echo() ->
    receive {echo, From, What} -> From ! {echoed, What} end,
    echo().
