%% A scope_beam forwarder speaking protocol v1 by hand, for the beam_telemetry
%% receiver's tests: real term_to_binary from a real node.
%% main([Port, Mode, Count]): Mode is ok | old_protocol | bad_token | flood.
%% Prints "reply <term>" after the hello, "native <units per second>", and "sent" when done.
-module(telemetry_client).
-export([main/1]).

main([PortArg, Mode, CountArg]) ->
    Port = list_to_integer(PortArg),
    Count = list_to_integer(CountArg),
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {packet, raw}]),
    Native = erlang:convert_time_unit(1, second, native),
    io:format("native ~w~n", [Native]),
    Protocol = case Mode of "old_protocol" -> 0; _ -> 1 end,
    Token = case Mode of "bad_token" -> <<"wrong">>; _ -> <<"s3cret">> end,
    send(S, {scope_hello, #{protocol => Protocol, node => node(), otp_release => list_to_binary(erlang:system_info(otp_release)),
                            elixir_version => nil, time_offset_ns => erlang:time_offset(nanosecond),
                            native_units_per_second => Native, app => shop, token => Token}}),
    {ok, <<0, Size:32>>} = gen_tcp:recv(S, 5, 5000),
    {ok, Body} = gen_tcp:recv(S, Size, 5000),
    io:format("reply ~p~n", [binary_to_term(Body)]),
    case Mode of
        "ok" -> events(S, Native), io:format("sent~n");
        "flood" -> [send(S, event(N, Native)) || N <- lists:seq(1, Count)], io:format("sent~n");
        _ -> ok
    end,
    receive after infinity -> ok end.

send(S, Term) ->
    Bin = term_to_binary(Term),
    ok = gen_tcp:send(S, <<0, (byte_size(Bin)):32, Bin/binary>>).

event(N, Native) ->
    {telemetry, [phoenix, endpoint, stop], #{duration => 3 * Native div 1000 + N},
     #{n => N, pid => self()}, erlang:system_time(nanosecond)}.

events(S, Native) ->
    Now = erlang:system_time(nanosecond),
    %% A Phoenix endpoint stop, as the forwarder would send it after filtering the conn.
    send(S, {telemetry, [phoenix, endpoint, stop],
             #{duration => Native div 500, monotonic_time => erlang:monotonic_time()},
             #{pid => self(), method => <<"GET">>, request_path => <<"/cart/items">>, status => 200,
               route => <<"/cart/items">>, plug => 'Elixir.ShopWeb.CartController', assigns_count => 3,
               remote_ip => {127, 0, 0, 1}, 'telemetry_span_context' => make_ref(),
               tags => [a, <<"b">>, 1.5], nested => #{ok => true, none => nil}, raw => <<255, 0, 1>>},
             Now}),
    %% Not a term: a frame of garbage. Counted and skipped; the connection stays.
    ok = gen_tcp:send(S, <<0, 3:32, 1, 2, 3>>),
    %% Not a telemetry event.
    send(S, {something, else}),
    %% An Ecto query after them still arrives.
    send(S, {telemetry, [shop, repo, query],
             #{total_time => Native div 100, query_time => Native div 200, decode_time => 0, queue_time => 7, idle_time => Native},
             #{source => <<"users">>, query => <<"SELECT u0.\"id\" FROM \"users\" AS u0">>, repo => 'Elixir.Shop.Repo', result_rows => 2},
             Now + 1000}).
