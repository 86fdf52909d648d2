%% Real OTP applications under real client traffic and real faults, on a node
%% traced through the IP trace port after the applications are up (zero code
%% change), attached one of two ways:
%%   dbg         dbg:tracer(port, dbg:trace_port(ip, ...)) + dbg:tpl(...) + dbg:p(all, ...)
%%   scope_beam  'Elixir.ScopeBeam.Tracer':start([{port, P}, {processes, all}, ...]) from
%%               beam-receiver/, loaded from the code path (-pa its ebin and Elixir's
%%               elixir and logger ebins); it also writes {scope_snapshot, ...} frames
%%
%% Run (by test/beam/otp_apps.ts):
%%   erl -sname <unique> -setcookie <COOKIE> -pa <ebin> [-pa <scope_beam and Elixir ebins>] [-noshell]
%%       -run otp_apps_workload main <TracePort> <TmpDir> noshell|shell [dbg|scope_beam]
%%
%% It starts inets (httpd serving <TmpDir>/htdocs and mod_esi), ssl, ssh (a
%% daemon, host key and user made here), mnesia (a ram_copies table) and a peer
%% node (OTP's peer module, connected over stdio only) that holds the clients:
%% httpc, ssh:connect, erpc. Everything on the peer is untraced: the traced node
%% is a server seeing external clients.
%%
%% stdout protocol (one line each; in shell mode a shell prompt may precede):
%%   fact <key> <value>     ground truth (pids and reasons with ~w, as the trace renders them)
%%   ready                  dbg: the trace port listens (fact trace.port), the test connects, then
%%                          sends attach; scope_beam: the test sends attach, which opens the port
%%                          (fact trace.port), then connects (the driver queues until it does)
%%   phase_done <phase>     a phase finished
%%   phase_error <phase> <reason>
%% Commands, one per line on stdin in noshell mode, or typed into the Erlang
%% shell as `otp_apps_workload:cmd(<phase>).` in shell mode:
%%   attach | traffic | crash | kill | trap | timeout | erpc | escalate | shell_begin | shell_done | stop
%% (between shell_begin and shell_done the test types commands into the shell)
%% The phases need no particular order, but run in this one they see the state
%% the earlier ones left (escalate takes httpd down for good: run it last).
-module(otp_apps_workload).
-export([main/1, cmd/1, shell_fact/1]).
-export([esi_hello/3, esi_kv/3, esi_crash/3, esi_login/3, check_password/2]).
-export([peer_init/1, peer_req/1, peer_req/2]).

-define(CTL, otp_apps_ctl).
-define(CLIENT, otp_apps_client).
-define(USER, "otp").
-define(PASSWORD, "correct-horse-otp-7").
-define(TABLE, otp_apps_kv).

%% =============================================================================
%% Entry, control
%% =============================================================================

main([TracePort, Dir, Mode]) ->
    main([TracePort, Dir, Mode, "dbg"]);
main([TracePort, Dir, Mode, Tracer]) when Tracer =:= "dbg"; Tracer =:= "scope_beam" ->
    Ctl = spawn(fun() -> ctl_init(list_to_integer(TracePort), Dir, list_to_atom(Mode), list_to_atom(Tracer)) end),
    case Mode of
        "noshell" ->
            Reader = spawn(fun() -> stdin_loop(Ctl) end),
            Ctl ! {stdin_reader, Reader};
        "shell" ->
            ok
    end,
    ok.

%% A line is a list, or a binary once Elixir's application has started (it sets standard_io to binary).
stdin_loop(Ctl) ->
    case io:get_line('') of
        eof -> halt(0);
        {error, _} -> halt(0);
        Line -> Ctl ! {cmd, unicode:characters_to_list(string:trim(Line))}, stdin_loop(Ctl)
    end.

%% Typed into the shell: hands the command to the controller and returns at once.
cmd(Name) when is_atom(Name) ->
    ?CTL ! {cmd, atom_to_list(Name)},
    ok.

%% Typed into the shell before a command: who evaluates it.
shell_fact(Label) ->
    Self = self(),
    P = "shell." ++ atom_to_list(Label),
    fact(P ++ ".evaluator", "~w", [Self]),
    {links, Links} = process_info(Self, links),
    fact(P ++ ".evaluator_links", "~w", [Links]),
    {group_leader, GL} = process_info(Self, group_leader),
    fact(P ++ ".group_leader", "~w", [GL]),
    %% The shell process: the evaluator's link that runs shell:server_loop.
    [fact(P ++ ".shell", "~w", [L]) || L <- Links, is_pid(L),
        case process_info(L, current_function) of {current_function, {shell, _, _}} -> true; _ -> false end],
    ok.

out(Format, Args) -> io:format(Format ++ "~n", Args).

fact(Key, Format, Args) -> io:format("fact ~s " ++ Format ++ "~n", [Key | Args]).

%% A result for people to read (strings and binaries as text), on one line.
factp(Key, Term) -> io:format("fact ~s ~ts~n", [Key, io_lib:print(Term, 1, 1000000, -1)]).

ctl_init(TracePort, Dir, Mode, Tracer) ->
    register(?CTL, self()),
    Reader = receive {stdin_reader, R} -> R after (case Mode of noshell -> 5000; shell -> 0 end) -> undefined end,
    fact("node", "~w", [node()]),
    fact("mode", "~w", [Mode]),
    fact("tracer", "~w", [Tracer]),
    fact("workload.ctl", "~w", [self()]),
    Reader =/= undefined andalso fact("workload.stdin_reader", "~w", [Reader]),
    try
        S = setup(Dir),
        case Tracer of
            dbg ->
                {ok, _} = dbg:tracer(port, dbg:trace_port(ip, {TracePort, 50000})),
                {ok, Listen} = dbg:trace_port_control(node(), get_listen_port),
                {ok, TracerPort} = dbg:get_tracer(),
                fact("trace.port", "~w", [Listen]),
                fact("trace.tracer", "~w", [TracerPort]),
                fact("trace.dbg_server", "~w", [whereis(dbg)]);
            scope_beam ->
                %% ScopeBeam and what it needs (elixir, logger, runtime_tools), started like any
                %% library application: its ebin and Elixir's are on the code path, nothing else.
                {ok, Started} = application:ensure_all_started(scope_beam),
                fact("scope_beam.started_apps", "~w", [Started]),
                fact("scope_beam.apps", "~w", [[{A, V} || {A, _, V} <- application:which_applications(),
                                                           lists:member(A, [scope_beam, elixir, logger, runtime_tools])]]),
                [{module, M} = code:ensure_loaded(M) || M <- ['Elixir.ScopeBeam.Tracer', 'Elixir.ScopeBeam.Tracer.Server',
                                                             'Elixir.ScopeBeam.Tracer.Snapshot', 'Elixir.Logger']],
                fact("scope_beam.ebin", "~s", [filename:dirname(code:which('Elixir.ScopeBeam.Tracer'))]),
                fact("scope_beam.backend", "~w", ['Elixir.ScopeBeam.Tracer':backend()]),
                false = 'Elixir.ScopeBeam.Tracer':'running?'()
        end,
        out("ready", []),
        ctl_loop(S#{reader => Reader, tracer => Tracer, trace_port => TracePort})
    catch C:E:St ->
        out("setup_error ~w", [{C, E, St}]),
        halt(3)
    end.

ctl_loop(S) ->
    receive
        {cmd, "stop"} ->
            catch peer:stop(maps:get(peer, S)),
            out("phase_done stop", []),
            halt(0);
        {cmd, ""} ->
            ctl_loop(S);
        {cmd, Name} ->
            Phase = list_to_atom(Name),
            fact("phase." ++ Name ++ ".start_ns", "~w", [erlang:system_time(nanosecond)]),
            S1 = try phase(Phase, S) of
                     NewS ->
                         fact("phase." ++ Name ++ ".end_ns", "~w", [erlang:system_time(nanosecond)]),
                         timer:sleep(150), % the trace port delivers asynchronously
                         out("phase_done ~s", [Name]),
                         NewS
                 catch C:E:St ->
                     out("phase_error ~s ~w", [Name, {C, E, St}]),
                     S
                 end,
            ctl_loop(S1);
        _Other ->
            ctl_loop(S)
    end.

%% =============================================================================
%% Setup: the applications, the peer and its clients (all before the trace)
%% =============================================================================

setup(Dir) ->
    Docs = filename:join(Dir, "htdocs"),
    ok = filelib:ensure_dir(filename:join(Docs, "x")),
    ok = file:write_file(filename:join(Docs, "index.html"), <<"<html><body>otp_apps</body></html>\n">>),
    ok = file:write_file(filename:join(Docs, "big.txt"), binary:copy(<<"0123456789abcdef">>, 4096)),
    ok = application:set_env(mnesia, dir, filename:join(Dir, "mnesia")),
    {ok, _} = application:ensure_all_started(inets),
    {ok, _} = application:ensure_all_started(ssl),
    {ok, _} = application:ensure_all_started(ssh),
    {ok, _} = application:ensure_all_started(mnesia),
    {atomic, ok} = mnesia:create_table(?TABLE, [{ram_copies, [node()]}, {attributes, [key, value]}]),
    {atomic, ok} = mnesia:transaction(fun() -> mnesia:write({?TABLE, 0, setup}) end),

    %% httpd: a directory and mod_esi (whose functions run mnesia transactions).
    {ok, Httpd} = inets:start(httpd, [
        {port, 0}, {server_name, "otp_apps"}, {server_root, Dir}, {document_root, Docs},
        {bind_address, {127, 0, 0, 1}},
        {modules, [mod_alias, mod_esi, mod_get, mod_head]},
        {erl_script_alias, {"/esi", [?MODULE]}},
        {keep_alive, true}, {keep_alive_timeout, 60}, {max_keep_alive_request, 1000}]),
    [{port, HttpPort}] = httpd:info(Httpd, [port]),
    fact("http.port", "~w", [HttpPort]),
    fact("http.instance", "~w", [Httpd]),

    %% ssh daemon: an ECDSA host key made now, password login; exec runs Erlang (the default).
    SysDir = filename:join(Dir, "ssh_system"),
    ok = filelib:ensure_dir(filename:join(SysDir, "x")),
    HostKey = public_key:generate_key({namedCurve, secp256r1}),
    ok = file:write_file(filename:join(SysDir, "ssh_host_ecdsa_key"),
                         public_key:pem_encode([public_key:pem_entry_encode('ECPrivateKey', HostKey)])),
    {ok, Daemon} = ssh:daemon({127, 0, 0, 1}, 0, [
        {system_dir, SysDir}, {user_passwords, [{?USER, ?PASSWORD}]}, {auth_methods, "password"}]),
    {ok, DaemonInfo} = ssh:daemon_info(Daemon),
    SshPort = proplists:get_value(port, DaemonInfo),
    fact("ssh.port", "~w", [SshPort]),
    fact("ssh.daemon", "~w", [Daemon]),

    %% The peer: clients of all of it, connected to us over stdio (no distribution yet).
    CodeDir = filename:dirname(code:which(?MODULE)),
    [Short, _Host] = string:split(atom_to_list(node()), "@"),
    PeerName = list_to_atom(Short ++ "_peer"),
    {ok, Peer, PeerNode} = peer:start(#{name => PeerName, connection => standard_io,
        args => ["-setcookie", atom_to_list(erlang:get_cookie()), "-pa", CodeDir]}),
    PeerOsPid = peer:call(Peer, os, getpid, []),
    fact("peer.node", "~w", [PeerNode]),
    fact("peer.os_pid", "~s", [PeerOsPid]),
    fact("peer.control", "~w", [Peer]),
    ClientDir = filename:join(Dir, "peer_ssh"),
    ok = filelib:ensure_dir(filename:join(ClientDir, "x")),
    ok = peer:call(Peer, ?MODULE, peer_init, [#{http_port => HttpPort, ssh_port => SshPort,
                                                user_dir => ClientDir, main => node()}], 15000),
    S0 = #{peer => Peer, peer_node => PeerNode, http_port => HttpPort, ssh_port => SshPort, dir => Dir},

    %% ssh connection A, opened before the trace (its links predate it); it runs a
    %% long exec so a channel process exists when the kill phase kills its handler.
    Before = ssh_handlers(),
    ok = client(S0, {ssh_connect, a}),
    [HandlerA] = ssh_handlers() -- Before,
    ok = client(S0, {ssh_exec_hold, a, "timer:sleep(120000)."}),
    wait_for(fun() -> length(ssh_channels(HandlerA)) > 0 end, 5000),
    fact("ssh.a.server_handler", "~w", [HandlerA]),
    describe("ssh.a.server_handler", HandlerA),

    %% Pids of interest before the trace.
    [fact("pid." ++ atom_to_list(N), "~w", [whereis(N)]) || N <- [
        inets_sup, httpd_sup, httpc_manager, httpc_sup, ssl_sup, ssl_admin_sup, ssl_manager, ssl_pem_cache,
        tls_client_ticket_store, ssh_sup, sshd_sup, sshc_sup, mnesia_sup, mnesia_kernel_sup, mnesia_monitor,
        mnesia_controller, mnesia_tm, mnesia_locker, mnesia_recover, net_kernel, net_sup, erl_epmd, auth,
        rex, global_name_server, kernel_sup, kernel_safe_sup, application_controller, logger, user, init,
        code_server, erts_code_purger, inet_db, file_server_2],
        whereis(N) =/= undefined],
    [fact("pid.httpd_manager", "~w", [P]) || P <- procs_of(httpd_manager)],
    S0#{ssh_a => HandlerA}.

%% =============================================================================
%% Phases
%% =============================================================================

phase(attach, #{tracer := scope_beam} = S) ->
    %% The same flags, call patterns (local, with exception_trace) and timestamps as the dbg
    %% attach, with ScopeBeam's limits off. It never traces its own processes nor the caller
    %% (this controller); the stdin reader is untraced here, as with dbg.
    Patterns = attach_patterns(),
    Opts = [{port, maps:get(trace_port, S)}, {processes, all}, {flags, [send, 'receive', procs]},
            {calls, Patterns}, {exception_trace, true}, {call_scope, local}, {timestamp, timestamp},
            {max_duration, infinity}, {max_events_per_second, infinity}],
    Info = case 'Elixir.ScopeBeam.Tracer':start(Opts) of
               {ok, I} -> I;
               {error, Why} -> error({scope_beam_tracer_start, Why, Opts})
           end,
    untrace_reader(S),
    fact("trace.port", "~w", [maps:get(port, Info)]),
    fact("trace.tracer", "~w", [maps:get(trace_port, Info)]),
    fact("trace.scope_beam_server", "~w", [maps:get(pid, Info)]),
    fact("trace.backend", "~w", [maps:get(backend, Info)]),
    fact("trace.targets", "~w", [maps:get(targets, Info)]),
    fact("attach.flags", "~w", [maps:get(flags, Info) ++ [maps:get(timestamp, Info)]]),
    fact("attach.patterns", "~w", [maps:get(calls, Info)]),
    fact("attach.options", "~w", [Opts]),
    S;
phase(attach, S) ->
    Flags = [send, 'receive', procs, call, timestamp],
    X = [{'_', [], [{exception_trace}]}],
    Patterns = attach_patterns(),
    [{ok, _} = dbg:tpl(M, F, A, X) || {M, F, A} <- Patterns],
    {ok, _} = dbg:p(all, Flags),
    %% Our own controller and stdin reader stay out of the trace.
    erlang:trace(self(), false, [all]),
    untrace_reader(S),
    {ok, Tracer} = dbg:get_tracer(),
    true = erlang:port_command(Tracer, term_to_binary(
        {scope_clock, node(), erlang:monotonic_time(nanosecond), erlang:system_time(nanosecond)})),
    fact("attach.flags", "~w", [Flags]),
    fact("attach.patterns", "~w", [Patterns]),
    S;

%% --- traffic: HTTP GETs (files, mod_esi with mnesia, 404, a crashing ESI), an ssh exec, mnesia ---
phase(traffic, S) ->
    Port = maps:get(http_port, S),
    Url = fun(Path) -> "http://127.0.0.1:" ++ integer_to_list(Port) ++ Path end,
    Gets = [{index, "/index.html"}, {big, "/big.txt"}, {esi_hello, "/esi/otp_apps_workload:esi_hello"},
            {esi_kv, "/esi/otp_apps_workload:esi_kv?key=7"}, {missing, "/missing.html"},
            {esi_crash, "/esi/otp_apps_workload:esi_crash"}, {index2, "/index.html"}],
    HandlersBefore = procs_of(httpd_request_handler),
    [factp("traffic.http." ++ atom_to_list(N), client(S, {http_get, Url(P)})) || {N, P} <- Gets],
    %% A form with an e-mail address: it reaches the node inside a binary (the socket's data).
    factp("traffic.http.post", client(S, {http_post, Url("/esi/otp_apps_workload:esi_hello"), "email=ada.lovelace@example.com&note=hi"})),
    factp("traffic.http.login", client(S, {http_post, Url("/esi/otp_apps_workload:esi_login"), "user=" ?USER "&password=" ?PASSWORD})),
    fact("traffic.http.handlers", "~w", [procs_of(httpd_request_handler) -- HandlersBefore]),
    %% ssh connection B: opened now (traced), one exec, kept open for the trap phase.
    Before = ssh_handlers(),
    ok = client(S, {ssh_connect, b}),
    [HandlerB] = ssh_handlers() -- Before,
    fact("traffic.ssh.b.server_handler", "~w", [HandlerB]),
    factp("traffic.ssh.b.exec", client(S, {ssh_exec, b, "lists:sum([1,2,3])."})),
    describe("traffic.ssh.b.server_handler", HandlerB),
    %% mnesia: transactions from a process of this node (and the ESI one above).
    Self = self(),
    Tx = spawn(fun() ->
        R1 = mnesia:transaction(fun() -> mnesia:write({?TABLE, 1, one}), mnesia:read(?TABLE, 1) end),
        R2 = mnesia:transaction(fun() -> mnesia:abort(otp_apps_abort) end),
        R3 = mnesia:transaction(fun() -> mnesia:read(?TABLE, 7) end),
        Self ! {tx, self(), [R1, R2, R3]}
    end),
    receive {tx, Tx, Results} -> factp("traffic.mnesia.results", Results) after 5000 -> error(mnesia_timeout) end,
    fact("traffic.mnesia.client", "~w", [Tx]),
    S#{ssh_b => HandlerB};

%% --- crash: an OTP gen_server (ssl_manager) cast a message it has no clause for ---
phase(crash, S) ->
    Old = whereis(ssl_manager),
    Sup = whereis(ssl_admin_sup),
    Children = [{Id, P} || {Id, P, _, _} <- supervisor:which_children(Sup), is_pid(P)],
    fact("crash.server", "~w", [Old]),
    fact("crash.server_name", "~w", [ssl_manager]),
    fact("crash.supervisor", "~w", [Sup]),
    fact("crash.supervisor_flags", "~w", [sup_flags(Sup)]),
    fact("crash.children_before", "~w", [Children]),
    describe("crash.server", Old),
    Mons = [{erlang:monitor(process, P), P} || {_, P} <- Children],
    Msg = {otp_apps_unknown_cast, make_ref()},
    fact("crash.message", "~w", [{'$gen_cast', Msg}]),
    Sender = spawn(fun() -> receive go -> gen_server:cast(ssl_manager, Msg) end end),
    fact("crash.sender", "~w", [Sender]),
    Sender ! go,
    Downs = collect_downs(Mons, 1500, 400),
    [fact("crash.down." ++ pid_key(P), "~w", [R]) || {P, R} <- Downs],
    {Old, Reason} = lists:keyfind(Old, 1, Downs),
    fact("crash.reason", "~w", [Reason]),
    fact("crash.location", "~s", [location(Reason)]),
    New = wait_for(fun() -> case whereis(ssl_manager) of Old -> false; undefined -> false; P -> P end end, 5000),
    fact("crash.new_server", "~w", [New]),
    describe("crash.new_server", New),
    fact("crash.children_after", "~w", [[{Id, P} || {Id, P, _, _} <- supervisor:which_children(Sup)]]),
    S;

%% --- kill: the ssh connection handler of open connection A, and an httpd request handler
%%     of a keep-alive connection, each killed with exit(Pid, kill) from another process ---
phase(kill, S0) ->
    S = ensure_http_connection(S0),
    HandlerA = maps:get(ssh_a, S),
    true = is_process_alive(HandlerA),
    kill_tree("kill.ssh", HandlerA, ssh_tree(HandlerA)),
    factp("kill.ssh.client_saw", client(S, {ssh_events, a})),
    case procs_of(httpd_request_handler) of
        [H | _] = All ->
            fact("kill.http.handlers", "~w", [All]),
            kill_tree("kill.http", H, http_tree(H)),
            Port = maps:get(http_port, S),
            factp("kill.http.client_next_get", client(S, {http_get, "http://127.0.0.1:" ++ integer_to_list(Port) ++ "/index.html"}));
        [] ->
            error(no_keep_alive_handler)
    end,
    S;

%% --- trap: exit(Pid, Reason) from another process to trapping OTP processes that then stop ---
phase(trap, S0) ->
    S = ensure_http_connection(ensure_ssh_b(S0)),
    %% The ssh connection handler of connection B: stops with {shutdown, Reason}.
    HandlerB = maps:get(ssh_b, S),
    signal_tree("trap.ssh", HandlerB, ssh_tree(HandlerB), otp_apps_signal),
    factp("trap.ssh.client_saw", client(S, {ssh_events, b})),
    %% An httpd request handler of a keep-alive connection: handle_info({'EXIT', _, R}) -> {stop, R, _}.
    [H | _] = procs_of(httpd_request_handler),
    signal_tree("trap.http", H, http_tree(H), otp_apps_signal),
    S;

%% --- escalate: httpd_manager stops on {'EXIT', _, shutdown}; its supervisor allows 0 restarts and
%%     shuts down; httpd_sup restarts the instance, or (when the listen socket's owner is gone first)
%%     fails to, gives up, and is restarted by inets_sup (fact escalate.outcome) ---
phase(escalate, S) ->
    [Mgr] = procs_of(httpd_manager),
    [InstanceSup | _] = ancestors(Mgr),
    HttpdSup = whereis(httpd_sup),
    InetsSup = whereis(inets_sup),
    [fact("escalate.flags." ++ pid_key(P), "~w", [sup_flags(P)]) || P <- [InstanceSup, HttpdSup, InetsSup]],
    fact("escalate.instance_sup", "~w", [InstanceSup]),
    fact("escalate.httpd_sup", "~w", [HttpdSup]),
    fact("escalate.inets_sup", "~w", [InetsSup]),
    fact("escalate.httpd_sup_children_before", "~w", [[{Id, P} || {Id, P, _, _} <- supervisor:which_children(HttpdSup)]]),
    signal_tree("escalate", Mgr, [{P, label(P)} || P <- [HttpdSup | descendants(HttpdSup)]], shutdown),
    timer:sleep(200),
    NewHttpdSup = whereis(httpd_sup),
    %% A race inside inets decides which: the new acceptor links to the listen socket's owner
    %% process, which ends on the 'EXIT' of the old acceptor. Linked in time: the instance is back;
    %% too late (noproc): every restart fails and httpd_sup gives up, restarted by inets_sup.
    fact("escalate.outcome", "~w", [case NewHttpdSup of HttpdSup -> instance_restarted; _ -> httpd_sup_restarted end]),
    fact("escalate.httpd_sup_after", "~w", [NewHttpdSup]),
    fact("escalate.httpd_sup_children_after", "~w",
         [case NewHttpdSup of undefined -> undefined; _ -> [{Id, P} || {Id, P, _, _} <- supervisor:which_children(NewHttpdSup)] end]),
    fact("escalate.inets_sup_children_after", "~w", [[{Id, P} || {Id, P, _, _} <- supervisor:which_children(InetsSup)]]),
    fact("escalate.managers_after", "~w", [procs_of(httpd_manager)]),
    S;

%% --- timeout: gen_server:call with a small timeout to a suspended OTP server ---
phase(timeout, S) ->
    Server = whereis(httpc_manager),
    fact("timeout.server", "~w", [Server]),
    fact("timeout.request", "~w", [which_cookies]),
    ok = sys:suspend(Server),
    Self = self(),
    Dier = spawn(fun() -> receive go -> gen_server:call(httpc_manager, which_cookies, 200) end end),
    Catcher = spawn(fun() ->
        receive go -> ok end,
        R = (catch gen_server:call(httpc_manager, which_cookies, 200)),
        Self ! {caught, self(), R},
        %% Stays a while: a late reply, if one came, would be received here.
        receive Late -> Self ! {late, self(), Late} after 600 -> ok end
    end),
    Mons = [{erlang:monitor(process, P), P} || P <- [Dier, Catcher]],
    fact("timeout.dier", "~w", [Dier]),
    fact("timeout.catcher", "~w", [Catcher]),
    Dier ! go, Catcher ! go,
    receive {caught, Catcher, Caught} -> fact("timeout.caught", "~w", [Caught]) after 3000 -> error(no_catch) end,
    timer:sleep(100),
    ok = sys:resume(Server),
    Downs = collect_downs(Mons, 2000, 700),
    [fact("timeout.down." ++ pid_key(P), "~w", [R]) || {P, R} <- Downs],
    receive {late, Catcher, Late} -> fact("timeout.late_reply", "~w", [Late]) after 0 -> fact("timeout.late_reply", "~w", [none]) end,
    fact("timeout.server_after", "~w", [whereis(httpc_manager)]),
    S;

%% --- erpc: calls from the peer (return, throw, error, exit, rpc, cast, a timeout), then it disconnects ---
phase(erpc, S) ->
    PeerNode = maps:get(peer_node, S),
    ok = net_kernel:monitor_nodes(true, [nodedown_reason]),
    NkLinks0 = links(whereis(net_kernel)),
    fact("erpc.nodes_before", "~w", [nodes()]),
    Results = client(S, {erpc, node()}),
    [fact("erpc." ++ atom_to_list(N), "~w", [R]) || {N, R} <- Results],
    receive {nodeup, PeerNode, _} -> ok after 3000 -> error(no_nodeup) end,
    timer:sleep(400), % the timed-out call's worker finishes
    DistCtrl = proplists:get_value(PeerNode, erlang:system_info(dist_ctrl)),
    fact("erpc.dist_ctrl", "~w", [DistCtrl]),
    is_port(DistCtrl) andalso factp("erpc.dist_ctrl_info", erlang:port_info(DistCtrl)),
    ConnProcs = [P || P <- links(whereis(net_kernel)) -- NkLinks0, is_pid(P)],
    Related = lists:usort(ConnProcs ++ [L || P <- ConnProcs, L <- links(P), is_pid(L), L =/= whereis(net_kernel)]
                          ++ [DistCtrl || is_pid(DistCtrl)]),
    [begin fact("erpc.conn." ++ pid_key(P), "~w", [label(P)]), describe("erpc.conn." ++ pid_key(P), P) end || P <- Related],
    Mons = [{erlang:monitor(process, P), P} || P <- Related],
    fact("erpc.disconnect", "~w", [client(S, disconnect)]),
    receive {nodedown, PeerNode, Info} -> fact("erpc.nodedown", "~w", [Info]) after 3000 -> error(no_nodedown) end,
    Downs = collect_downs(Mons, 2000, 300),
    [fact("erpc.down." ++ pid_key(P), "~w", [R]) || {P, R} <- Downs],
    ok = net_kernel:monitor_nodes(false, [nodedown_reason]),
    S;

phase(shell_begin, S) ->
    S;
phase(shell_done, S) ->
    S;

phase(Other, _S) ->
    error({unknown_phase, Other}).

%% A few call patterns on OTP code, so function.* events exist (none that ScopeBeam's
%% dangerous-pattern guard refuses: gen_server:call/3 is one function, not the module).
attach_patterns() ->
    [{erpc, execute_call, 4}, {erpc, execute_cast, 3}, {gen_server, call, 3}, {ssl_manager, handle_cast, 2},
     {mod_get, do, 1}, {mod_esi, do, 1}, {mnesia, transaction, 1}, {supervisor, do_restart, 3},
     {httpd_manager, handle_info, 2}, {?MODULE, esi_kv, 3}, {?MODULE, esi_crash, 3},
     %% The ssh daemon checking a login: the password is one of its arguments (privacy must mask it).
     {ssh_auth, check_password, 3}, {?MODULE, check_password, 2}].

untrace_reader(S) ->
    case maps:get(reader, S) of
        undefined -> ok;
        Reader -> erlang:trace(Reader, false, [all])
    end.

%% =============================================================================
%% Fault helpers
%% =============================================================================

%% Kills Target from a fresh process; reports every process of Tree that goes down.
kill_tree(Prefix, Target, Tree) ->
    signal_tree(Prefix, Target, Tree, kill).

signal_tree(Prefix, Target, Tree, Signal) ->
    [fact(Prefix ++ ".tree." ++ pid_key(P), "~w", [L]) || {P, L} <- Tree],
    fact(Prefix ++ ".target", "~w", [Target]),
    describe(Prefix ++ ".target", Target),
    Mons = [{erlang:monitor(process, P), P} || {P, _} <- Tree],
    Sender = spawn(fun() -> receive go -> exit(Target, Signal) end, receive after 200 -> ok end end),
    fact(Prefix ++ ".from", "~w", [Sender]),
    fact(Prefix ++ ".signal", "~w", [Signal]),
    Sender ! go,
    Downs = collect_downs(Mons, 3000, 500),
    [fact(Prefix ++ ".down." ++ pid_key(P), "~w", [R]) || {P, R} <- Downs],
    {Target, Reason} = lists:keyfind(Target, 1, Downs),
    fact(Prefix ++ ".exit_reason", "~w", [Reason]),
    fact(Prefix ++ ".survivors", "~w", [[P || {P, _} <- Tree, not lists:keymember(P, 1, Downs)]]),
    ok.

%% The ssh server's per-connection tree: the handler's supervisor (ssh_subsystem_sup)
%% with everything below it, and that supervisor's own supervisor (ssh_system_sup).
ssh_tree(Handler) ->
    [ConnSup, SystemSup | _] = ancestors(Handler),
    Pids = lists:usort([SystemSup, ConnSup | descendants(ConnSup)] ++ [L || L <- links(Handler), is_pid(L)]),
    [{P, label(P)} || P <- Pids].

%% An httpd request handler: its supervisor (httpd_connection_sup) and the handler's links.
http_tree(Handler) ->
    [ConnSup | _] = ancestors(Handler),
    Pids = lists:usort([ConnSup, Handler] ++ [L || L <- links(Handler), is_pid(L)]),
    [{P, label(P)} || P <- Pids].

ensure_http_connection(S) ->
    case procs_of(httpd_request_handler) of
        [] ->
            Port = maps:get(http_port, S),
            _ = client(S, {http_get, "http://127.0.0.1:" ++ integer_to_list(Port) ++ "/index.html"}),
            S;
        _ -> S
    end.

ensure_ssh_b(S) ->
    case maps:find(ssh_b, S) of
        {ok, Pid} -> true = is_process_alive(Pid), S;
        error ->
            Before = ssh_handlers(),
            ok = client(S, {ssh_connect, b}),
            [HandlerB] = ssh_handlers() -- Before,
            S#{ssh_b => HandlerB}
    end.

collect_downs(Mons, Max, Quiet) ->
    collect_downs(Mons, erlang:monotonic_time(millisecond) + Max, Quiet, []).

collect_downs([], _End, _Quiet, Acc) -> lists:reverse(Acc);
collect_downs(Mons, End, Quiet, Acc) ->
    Left = max(0, End - erlang:monotonic_time(millisecond)),
    receive
        {'DOWN', Ref, process, P, Reason} ->
            case lists:keymember(Ref, 1, Mons) of
                true -> collect_downs(lists:keydelete(Ref, 1, Mons), End, Quiet, [{P, Reason} | Acc]);
                false -> collect_downs(Mons, End, Quiet, Acc)
            end
    after min(Left, Quiet) ->
        [erlang:demonitor(R, [flush]) || {R, _} <- Mons],
        lists:reverse(Acc)
    end.

%% =============================================================================
%% Process facts
%% =============================================================================

describe(Prefix, Pid) ->
    Info = process_info(Pid, [registered_name, initial_call, trap_exit, links, monitors, monitored_by, group_leader,
                              current_function, dictionary]),
    case Info of
        undefined -> fact(Prefix ++ ".info", "~w", [dead]);
        _ ->
            {dictionary, D} = lists:keyfind(dictionary, 1, Info),
            Keep = [KV || {K, _} = KV <- D, lists:member(K, ['$initial_call', '$ancestors', '$process_label'])],
            fact(Prefix ++ ".info", "~w", [lists:keydelete(dictionary, 1, Info) ++ Keep])
    end.

label(P) ->
    case process_info(P, [registered_name, initial_call]) of
        undefined -> dead;
        [{registered_name, Name}, {initial_call, IC}] ->
            {IC, proc_lib:translate_initial_call(P), Name}
    end.

links(undefined) -> [];
links(P) ->
    case process_info(P, links) of
        {links, L} -> L;
        undefined -> []
    end.

ancestors(P) ->
    {dictionary, D} = process_info(P, dictionary),
    [case A of Name when is_atom(Name) -> whereis(Name); Pid -> Pid end || A <- proplists:get_value('$ancestors', D, [])].

descendants(Sup) ->
    lists:append([[P | case T of supervisor -> descendants(P); worker -> [] end]
                  || {_, P, T, _} <- supervisor:which_children(Sup), is_pid(P)]).

procs_of(Module) ->
    [P || P <- processes(), P =/= self(),
          case catch proc_lib:translate_initial_call(P) of {Module, _, _} -> true; _ -> false end].

ssh_handlers() ->
    [P || P <- procs_of(ssh_connection_handler)].

ssh_channels(Handler) ->
    [ConnSup | _] = ancestors(Handler),
    [P || P <- descendants(ConnSup), case catch proc_lib:translate_initial_call(P) of
                                          {ssh_server_channel, _, _} -> true; {ssh_client_channel, _, _} -> true; _ -> false end].

sup_flags(Sup) ->
    State = sys:get_state(Sup),
    %% #state{name, strategy, children, dynamics, intensity, period, restarts, dynamic_restarts, auto_shutdown, module, args}
    #{strategy => element(3, State), intensity => element(6, State), period => element(7, State), auto_shutdown => element(10, State)}.

location({_, [{_, _, _, Loc} | _]}) when is_list(Loc) ->
    proplists:get_value(file, Loc, "?") ++ ":" ++ integer_to_list(proplists:get_value(line, Loc, 0));
location(_) -> "?".

pid_key(P) -> lists:flatten(io_lib:format("~w", [P])).

wait_for(F, Timeout) ->
    End = erlang:monotonic_time(millisecond) + Timeout,
    wait_for_(F, End).
wait_for_(F, End) ->
    case F() of
        false ->
            case erlang:monotonic_time(millisecond) > End of
                true -> error(wait_for_timeout);
                false -> timer:sleep(10), wait_for_(F, End)
            end;
        true -> true;
        V -> V
    end.

%% =============================================================================
%% mod_esi functions (run by httpd's processes)
%% =============================================================================

%% A login form: the password reaches a traced function as a binary argument.
esi_login(SessionID, _Env, Input) ->
    Form = uri_string:dissect_query(Input),
    User = unicode:characters_to_binary(proplists:get_value("user", Form, "")),
    Password = unicode:characters_to_binary(proplists:get_value("password", Form, "")),
    Answer = case ?MODULE:check_password(User, Password) of true -> "welcome"; false -> "no" end,
    mod_esi:deliver(SessionID, "Content-Type: text/plain\r\n\r\n" ++ Answer ++ "\n").

check_password(User, Password) ->
    User =:= <<?USER>> andalso Password =:= <<?PASSWORD>>.

esi_hello(SessionID, _Env, _Input) ->
    mod_esi:deliver(SessionID, "Content-Type: text/plain\r\n\r\nhello from mod_esi\n").

esi_kv(SessionID, _Env, Input) ->
    Key = list_to_integer(proplists:get_value("key", uri_string:dissect_query(Input), "1")),
    {atomic, [{?TABLE, Key, V}]} = mnesia:transaction(fun() ->
        mnesia:write({?TABLE, Key, {esi, Key}}),
        mnesia:read(?TABLE, Key)
    end),
    mod_esi:deliver(SessionID, io_lib:format("Content-Type: text/plain\r\n\r\n~p~n", [V])).

esi_crash(_SessionID, _Env, _Input) ->
    erlang:error(otp_apps_esi_crash).

%% =============================================================================
%% The peer's side: clients (untraced, on another node)
%% =============================================================================

peer_init(Config) ->
    {ok, _} = application:ensure_all_started(inets),
    {ok, _} = application:ensure_all_started(ssh),
    Self = self(),
    spawn(fun() ->
        register(?CLIENT, self()),
        Self ! registered,
        client_loop(Config#{conns => #{}, events => #{}})
    end),
    receive registered -> ok after 5000 -> error(no_client) end.

peer_req(Req) -> peer_req(Req, 20000).
peer_req(Req, Timeout) ->
    Ref = make_ref(),
    ?CLIENT ! {req, self(), Ref, Req},
    receive {Ref, R} -> R after Timeout -> {error, client_timeout} end.

%% From the main node: a request to the peer's client process, over peer's stdio channel.
client(S, Req) ->
    peer:call(maps:get(peer, S), ?MODULE, peer_req, [Req], 25000).

client_loop(C) ->
    receive
        {req, From, Ref, Req} ->
            {Reply, C1} = try client_req(Req, C) catch Class:Reason -> {{client_error, Class, Reason}, C} end,
            From ! {Ref, Reply},
            client_loop(C1);
        {ssh_cm, Conn, Event} ->
            client_loop(note(Conn, {ssh_cm, Event}, C));
        {'EXIT', _, _} = Exit ->
            client_loop(note(exit, Exit, C));
        Other ->
            client_loop(note(other, Other, C))
    end.

note(Key, Event, #{events := E} = C) ->
    C#{events => E#{Key => maps:get(Key, E, []) ++ [Event]}}.

client_req({http_get, Url}, C) ->
    R = case httpc:request(get, {Url, [{"connection", "keep-alive"}]}, [{timeout, 5000}], [{body_format, binary}]) of
            {ok, {{_, Status, _}, _Headers, Body}} -> {Status, byte_size(Body)};
            {error, Reason} -> {error, Reason}
        end,
    {R, C};
client_req({http_post, Url, Body}, C) ->
    R = case httpc:request(post, {Url, [], "application/x-www-form-urlencoded", Body}, [{timeout, 5000}], [{body_format, binary}]) of
            {ok, {{_, Status, _}, _Headers, RBody}} -> {Status, byte_size(RBody)};
            {error, Reason} -> {error, Reason}
        end,
    {R, C};
client_req({ssh_connect, Name}, #{ssh_port := Port, user_dir := Dir, conns := Conns} = C) ->
    {ok, Conn} = ssh:connect("127.0.0.1", Port, [{user, ?USER}, {password, ?PASSWORD}, {silently_accept_hosts, true},
                                                 {user_interaction, false}, {save_accepted_host, false},
                                                 {user_dir, Dir}, {connect_timeout, 5000}]),
    {ok, C#{conns => Conns#{Name => Conn}}};
client_req({ssh_exec, Name, Cmd}, #{conns := Conns} = C) ->
    Conn = maps:get(Name, Conns),
    {ok, Ch} = ssh_connection:session_channel(Conn, 5000),
    success = ssh_connection:exec(Conn, Ch, Cmd, 5000),
    {exec_collect(Conn, Ch, []), C};
client_req({ssh_exec_hold, Name, Cmd}, #{conns := Conns} = C) ->
    Conn = maps:get(Name, Conns),
    {ok, Ch} = ssh_connection:session_channel(Conn, 5000),
    success = ssh_connection:exec(Conn, Ch, Cmd, 5000),
    {ok, C};
client_req({ssh_events, Name}, #{conns := Conns, events := E} = C) ->
    timer:sleep(200),
    Conn = maps:get(Name, Conns),
    {Events, C1} = drain(Conn, C),
    Alive = is_process_alive(Conn),
    {#{conn => Conn, conn_alive => Alive, events => maps:get(Conn, E, []) ++ Events}, C1};
client_req({erpc, Main}, C) ->
    Run = fun(F) -> try {ok, F()} catch Class:Reason -> {Class, Reason} end end,
    R = [{call_return, Run(fun() -> erpc:call(Main, erlang, self, []) end)},
         {call_throw, Run(fun() -> erpc:call(Main, erlang, throw, [otp_apps_throw]) end)},
         {call_error, Run(fun() -> erpc:call(Main, erlang, error, [otp_apps_error]) end)},
         {call_exit, Run(fun() -> erpc:call(Main, erlang, exit, [otp_apps_exit]) end)},
         {call_mnesia, Run(fun() -> erpc:call(Main, mnesia, dirty_read, [?TABLE, 1]) end)},
         {rpc_call, Run(fun() -> rpc:call(Main, erlang, self, []) end)},
         {rpc_call_error, Run(fun() -> rpc:call(Main, erlang, error, [otp_apps_rpc_error]) end)},
         {cast, Run(fun() -> erpc:cast(Main, erlang, garbage_collect, []) end)},
         {call_timeout, Run(fun() -> erpc:call(Main, timer, sleep, [300], 100) end)}],
    {R, C};
client_req(disconnect, #{main := Main} = C) ->
    {erlang:disconnect_node(Main), C}.

exec_collect(Conn, Ch, Acc) ->
    receive
        {ssh_cm, Conn, {data, Ch, _, Data}} -> exec_collect(Conn, Ch, [Data | Acc]);
        {ssh_cm, Conn, {closed, Ch}} -> {ok, iolist_to_binary(lists:reverse(Acc))};
        {ssh_cm, Conn, {eof, Ch}} -> exec_collect(Conn, Ch, Acc);
        {ssh_cm, Conn, {exit_status, Ch, Status}} -> exec_collect(Conn, Ch, [io_lib:format("[exit_status ~w]", [Status]) | Acc])
    after 5000 -> {timeout, iolist_to_binary(lists:reverse(Acc))}
    end.

drain(Conn, C) ->
    receive
        {ssh_cm, Conn, Event} -> {Rest, C1} = drain(Conn, C), {[{ssh_cm, Event} | Rest], C1}
    after 0 -> {[], C}
    end.
