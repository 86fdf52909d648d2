%% A small, deterministic BEAM workload traced through the IP trace port, for
%% the beam_trace_port integration tests. Protocol on stdout (one line each):
%%   port <ListenPort>            the trace port listens; the test connects, then writes "go\n" on stdin
%%   pid <name> <rendered pid>     pids the test substitutes into its expected sequence
%%   time <label> <system_time ns> wall clock around an event, to check time conversion
%%   done                          the workload finished and the trace was flushed
-module(workload).
-behaviour(gen_server).
-export([main/1, child/0, fact/1, crash/1, tagged/1]).
-export([init/1, handle_call/3, handle_cast/2]).

main([PortArg, TsFlagArg]) ->
    ListenPort = list_to_integer(PortArg),
    TsFlag = list_to_atom(TsFlagArg),
    {ok, _} = dbg:tracer(port, dbg:trace_port(ip, {ListenPort, 50000})),
    {ok, Actual} = dbg:trace_port_control(node(), get_listen_port),
    out("port ~w", [Actual]),
    "go\n" = io:get_line(''),
    Tracer = tracer_port(),
    true = erlang:port_command(Tracer, term_to_binary(
        {scope_clock, node(), erlang:monotonic_time(nanosecond), erlang:system_time(nanosecond)})),
    dbg:tpl(workload, fact, 1, [{'_', [], [{return_trace}]}]),
    dbg:tpl(workload, crash, 1, [{'_', [], [{exception_trace}]}]),
    dbg:tpl(workload, tagged, 1, [{'_', [], [{message, hello}]}]),
    Self = self(),
    Root = spawn(fun() -> receive start -> root(Self) end end),
    out("pid root ~w", [Root]),
    {ok, _} = dbg:p(Root, [send, 'receive', procs, call, set_on_spawn, TsFlag]),
    Root ! start,
    receive {times, T0, T1} -> out("time ping_before ~w", [T0]), out("time ping_after ~w", [T1]) end,
    receive {root_done, Child, Crasher, Server} ->
        out("pid child ~w", [Child]),
        out("pid crasher ~w", [Crasher]),
        out("pid server ~w", [Server])
    end,
    timer:sleep(300),
    out("done", []),
    "stop\n" = io:get_line(''),
    halt(0).

tracer_port() ->
    %% The trace_ip driver's port: writing a term to it frames it like a trace message.
    {ok, P} = dbg:get_tracer(),
    true = is_port(P),
    P.

root(Main) ->
    process_flag(trap_exit, true),
    Child = spawn_link(?MODULE, child, []),
    T0 = os:system_time(nanosecond),
    Child ! {ping, self()},
    T1 = os:system_time(nanosecond),
    receive pong -> ok end,
    Child ! {fact, 3},
    receive {fact, 6} -> ok end,
    Child ! divide,
    receive {divided, error} -> ok end,
    Crasher = spawn_link(?MODULE, crash, [0]),
    receive {'EXIT', Crasher, _} -> ok end,
    {ok, Server} = gen_server:start_link(?MODULE, 0, []),
    0 = gen_server:call(Server, get),
    ok = gen_server:cast(Server, {add, 5}),
    5 = gen_server:call(Server, get),
    Main ! {times, T0, T1},
    Main ! {root_done, Child, Crasher, Server},
    receive after infinity -> ok end.

child() ->
    receive {ping, From} -> From ! pong end,
    receive {fact, N} -> whereis_root() ! {fact, fact(N)} end,
    receive divide -> whereis_root() ! {divided, (catch crash(0)) =/= ok andalso error} end,
    tagged(1),
    receive after infinity -> ok end.

whereis_root() ->
    {links, [Root]} = process_info(self(), links),
    Root.

fact(0) -> 1;
fact(N) -> N * fact(N - 1).

crash(X) -> 1 div X.

tagged(X) -> X.

%% A tiny counter gen_server, for call and cast traffic.
init(N) -> {ok, N}.
handle_call(get, _From, N) -> {reply, N, N}.
handle_cast({add, K}, N) -> {noreply, N + K}.

out(Format, Args) -> io:format(Format ++ "~n", Args).
