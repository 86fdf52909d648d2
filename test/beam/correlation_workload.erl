%% Workloads for the correlation processor's end-to-end tests, traced through
%% the IP trace port. main([Port, Scenario]); protocol on stdout:
%%   port <ListenPort>     the test connects, then writes "go\n"
%%   pid <name> <pid>      pids the test looks for
%%   measured <name> <ns>  durations the node measured itself
%%   done                  the scenario finished ("stop\n" ends the node)
%% Scenarios: chain (client → a → b → c by gen_server:call), crash (a poison
%% cast kills a supervised worker and the helper linked to it; the supervisor
%% restarts the worker), recursion (1000 deep, then an exception unwinds to a catch).
-module(correlation_workload).
-behaviour(gen_server). % and a supervisor callback module (init(supervisor))
-export([main/1, deep/1, catcher/0, helper/0, client_work/1, echo_work/1]).
-export([init/1, handle_call/3, handle_cast/2, start_worker/0]).

main([PortArg, Scenario]) ->
    {ok, _} = dbg:tracer(port, dbg:trace_port(ip, {list_to_integer(PortArg), 50000})),
    {ok, Actual} = dbg:trace_port_control(node(), get_listen_port),
    out("port ~w", [Actual]),
    "go\n" = io:get_line(''),
    {ok, Tracer} = dbg:get_tracer(),
    true = erlang:port_command(Tracer, term_to_binary(
        {scope_clock, node(), erlang:monotonic_time(nanosecond), erlang:system_time(nanosecond)})),
    run(list_to_atom(Scenario)),
    timer:sleep(300),
    out("done", []),
    "stop\n" = io:get_line(''),
    halt(0).

out(Format, Args) -> io:format(Format ++ "~n", Args).

flags() -> [send, 'receive', procs, call, monotonic_timestamp].

%% --- chain ---------------------------------------------------------------------

run(chain) ->
    {ok, C} = gen_server:start({local, c}, ?MODULE, {server, none}, []),
    {ok, B} = gen_server:start({local, b}, ?MODULE, {server, c}, []),
    {ok, A} = gen_server:start({local, a}, ?MODULE, {server, b}, []),
    dbg:tpl(?MODULE, handle_call, 3, [{'_', [], [{return_trace}]}]),
    Main = self(),
    Client = spawn(fun() -> receive go -> ok end, Reply = gen_server:call(a, {work, 0}), Main ! {reply, Reply} end),
    [{ok, _} = dbg:p(P, flags()) || P <- [Client, A, B, C]],
    [out("pid ~s ~w", [N, P]) || {N, P} <- [{client, Client}, {a, A}, {b, B}, {c, C}]],
    Client ! go,
    receive {reply, {done, 3}} -> ok end,
    [out("measured ~s ~w", [N, gen_server:call(N, measured)]) || N <- [a, b, c]];

%% --- crash ---------------------------------------------------------------------

run(crash) ->
    process_flag(trap_exit, true),
    {ok, Sup} = supervisor:start_link(?MODULE, supervisor),
    [{worker, Worker, _, _}] = supervisor:which_children(Sup),
    Helper = gen_server:call(Worker, helper),
    {ok, _} = dbg:p(Sup, [set_on_spawn | flags()]),
    [{ok, _} = dbg:p(P, flags()) || P <- [Worker, Helper]],
    Main = self(),
    Client = spawn(fun() -> receive go -> ok end, gen_server:cast(Worker, {poison, 0}), Main ! sent end),
    {ok, _} = dbg:p(Client, flags()),
    [out("pid ~s ~w", [N, P]) || {N, P} <- [{supervisor, Sup}, {worker, Worker}, {helper, Helper}, {client, Client}]],
    Client ! go,
    receive sent -> ok end,
    timer:sleep(200),
    [{worker, Restarted, _, _}] = supervisor:which_children(Sup),
    true = Restarted =/= Worker,
    out("pid restarted ~w", [Restarted]);

%% --- recursion -----------------------------------------------------------------

run(recursion) ->
    dbg:tpl(?MODULE, deep, 1, [{'_', [], [{exception_trace}]}]),
    dbg:tpl(?MODULE, catcher, 0, [{'_', [], [{exception_trace}]}]),
    Main = self(),
    P = spawn(fun() -> receive go -> ok end, Main ! {caught, catcher()} end),
    {ok, _} = dbg:p(P, flags()),
    out("pid runner ~w", [P]),
    P ! go,
    receive {caught, caught} -> ok end;

%% --- seq_trace: the only link between the processes is the seq_trace token -----

run(seqtrace) ->
    {ok, Tracer} = dbg:get_tracer(),
    seq_trace:set_system_tracer(Tracer),
    dbg:tpl(?MODULE, client_work, 1, [{'_', [], [{return_trace}]}]),
    dbg:tpl(?MODULE, echo_work, 1, [{'_', [], [{return_trace}]}]),
    Echo = spawn(fun EchoLoop() -> receive {ping, From} -> echo_work(From), EchoLoop() end end),
    Main = self(),
    Client = spawn(fun() -> receive go -> ok end, client_work(Echo), Main ! done end),
    %% No send/'receive' trace flags: only calls, and the seq_trace token's own events.
    [{ok, _} = dbg:p(P, [call, monotonic_timestamp]) || P <- [Client, Echo]],
    [out("pid ~s ~w", [N, P]) || {N, P} <- [{client, Client}, {echo, Echo}]],
    Client ! go,
    receive done -> ok end.

client_work(Echo) ->
    seq_trace:set_token(label, 42),
    seq_trace:set_token(send, true),
    seq_trace:set_token('receive', true),
    seq_trace:set_token(monotonic_timestamp, true),
    Echo ! {ping, self()},
    receive pong -> ok end,
    seq_trace:set_token([]),
    ok.

echo_work(From) ->
    From ! pong,
    ok.


catcher() ->
    try deep(1000) catch error:boom -> caught end.

deep(0) -> erlang:error(boom);
deep(N) -> 1 + deep(N - 1).

%% --- the gen_server and the supervisor -------------------------------------------

init(supervisor) ->
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10},
          [#{id => worker, start => {?MODULE, start_worker, []}}]}};
init({server, Next}) ->
    {ok, #{next => Next, measured => 0}};
init(worker) ->
    %% A helper linked to the worker, not trapping exits: it dies with it.
    Helper = spawn_link(?MODULE, helper, []),
    {ok, #{helper => Helper}}.

start_worker() -> gen_server:start_link(?MODULE, worker, []).

helper() -> receive after infinity -> ok end.

handle_call({work, N}, _From, #{next := Next} = S) ->
    T0 = erlang:monotonic_time(nanosecond),
    Reply = case Next of
                none -> timer:sleep(2), {done, N + 1};
                _ -> gen_server:call(Next, {work, N + 1})
            end,
    T1 = erlang:monotonic_time(nanosecond),
    {reply, Reply, S#{measured => T1 - T0}};
handle_call(measured, _From, #{measured := M} = S) ->
    {reply, M, S};
handle_call(helper, _From, #{helper := H} = S) ->
    {reply, H, S}.

handle_cast({poison, N}, S) ->
    _ = 1 div N,
    {noreply, S}.
