%% A stand-in for the :telemetry library (hex.pm `telemetry` 1.x), for tests only.
%%
%% Why a stand-in: hex.pm is not reachable from this machine and scope_beam has
%% no dependencies, yet the forwarder must be tested against :telemetry as an
%% application calls it. This module follows telemetry 1.x's published API and
%% dispatch rules (telemetry.erl, docs at hexdocs.pm/telemetry): handlers are
%% stored per event name; `execute/3` calls each as
%% `Fun(EventName, Measurements, Metadata, Config)` in the caller's process; a
%% handler that raises is detached; `span/3` emits start/stop/exception with
%% `monotonic_time`, `system_time`, `duration` in native units and a fresh
%% `telemetry_span_context` reference in the metadata.
-module(telemetry).
-export([attach/4, attach_many/4, detach/1, execute/3, span/3, list_handlers/1]).

-define(TABLE, scope_test_telemetry_handlers).

table() ->
    case ets:whereis(?TABLE) of
        undefined ->
            Parent = self(),
            %% The table needs an owner that outlives callers.
            spawn(fun() ->
                          ets:new(?TABLE, [named_table, public, bag, {read_concurrency, true}]),
                          Parent ! {table, ok},
                          receive after infinity -> ok end
                  end),
            receive {table, ok} -> ?TABLE after 5000 -> ?TABLE end;
        _ -> ?TABLE
    end.

attach(Id, Event, Fun, Config) -> attach_many(Id, [Event], Fun, Config).

attach_many(Id, Events, Fun, Config) when is_function(Fun, 4) ->
    T = table(),
    case ets:match_object(T, {'_', Id, '_', '_'}) of
        [] ->
            [ets:insert(T, {E, Id, Fun, Config}) || E <- Events],
            ok;
        _ -> {error, already_exists}
    end.

detach(Id) ->
    T = table(),
    case ets:match_object(T, {'_', Id, '_', '_'}) of
        [] -> {error, not_found};
        _ -> ets:match_delete(T, {'_', Id, '_', '_'}), ok
    end.

list_handlers(Prefix) ->
    [#{id => Id, event_name => E, function => F, config => C}
     || {E, Id, F, C} <- ets:tab2list(table()), lists:prefix(Prefix, E)].

execute(Event, Measurements, Metadata) when is_map(Measurements), is_map(Metadata) ->
    [try Fun(Event, Measurements, Metadata, Config)
     catch Class:Reason:Stack ->
             error_logger:error_msg("telemetry handler ~p failed and was detached: ~p~n", [Id, {Class, Reason, Stack}]),
             detach(Id)
     end || {_, Id, Fun, Config} <- ets:lookup(table(), Event)],
    ok.

span(Prefix, StartMeta, Fun) ->
    Ctx = make_ref(),
    Start = erlang:monotonic_time(),
    StartMeta1 = StartMeta#{telemetry_span_context => Ctx},
    execute(Prefix ++ [start], #{monotonic_time => Start, system_time => erlang:system_time()}, StartMeta1),
    try Fun() of
        {Result, StopMeta} ->
            Stop = erlang:monotonic_time(),
            execute(Prefix ++ [stop], #{duration => Stop - Start, monotonic_time => Stop},
                    StopMeta#{telemetry_span_context => Ctx}),
            Result
    catch Class:Reason:Stack ->
            Stop = erlang:monotonic_time(),
            execute(Prefix ++ [exception], #{duration => Stop - Start, monotonic_time => Stop},
                    StartMeta1#{kind => Class, reason => Reason, stacktrace => Stack}),
            erlang:raise(Class, Reason, Stack)
    end.
