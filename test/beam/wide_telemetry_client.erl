%% A node speaking the scope_beam forwarder protocol (v1) by hand, sending
%% events with very wide metadata maps, for test/beam/beam_receivers_hostile.test.ts:
%% real term_to_binary(_, [compressed]) from a real node.
%% main([Port, Batches]): Batches is "Keys:ValueBytes:Count,..." — for each,
%% Count events {telemetry, [shop, wide], #{duration => 1}, Metadata, Now}
%% whose Metadata has Keys distinct binary keys <<"k1">>.. each holding a
%% binary of ValueBytes bytes (1 byte: the integer 1 instead).
%% Prints "reply <term>" after the hello, "frame_bytes <max frame size>" and "sent" when done.
-module(wide_telemetry_client).
-export([main/1]).

main([PortArg, BatchesArg]) ->
    Port = list_to_integer(PortArg),
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {packet, raw}]),
    Native = erlang:convert_time_unit(1, second, native),
    send(S, term_to_binary({scope_hello, #{protocol => 1, node => node(), otp_release => list_to_binary(erlang:system_info(otp_release)),
                                           elixir_version => nil, time_offset_ns => erlang:time_offset(nanosecond),
                                           native_units_per_second => Native, app => shop, token => <<"s3cret">>}})),
    {ok, <<0, Size:32>>} = gen_tcp:recv(S, 5, 5000),
    {ok, Body} = gen_tcp:recv(S, Size, 5000),
    io:format("reply ~p~n", [binary_to_term(Body)]),
    Batches = [[list_to_integer(F) || F <- string:split(B, ":", all)] || B <- string:split(BatchesArg, ",", all)],
    Max = lists:foldl(fun([Keys, ValueBytes, Count], Acc) ->
                              Bin = term_to_binary(event(Keys, ValueBytes), [compressed]),
                              [send(S, Bin) || _ <- lists:seq(1, Count)],
                              max(Acc, byte_size(Bin))
                      end, 0, Batches),
    io:format("frame_bytes ~w~n", [Max]),
    io:format("sent~n"),
    receive after infinity -> ok end.

send(S, Bin) ->
    ok = gen_tcp:send(S, <<0, (byte_size(Bin)):32, Bin/binary>>).

event(Keys, ValueBytes) ->
    Value = case ValueBytes of 1 -> 1; N -> binary:copy(<<"x">>, N) end,
    Meta = maps:from_list([{<<"k", (integer_to_binary(I))/binary>>, Value} || I <- lists:seq(1, Keys)]),
    {telemetry, [shop, wide], #{duration => 1}, Meta, erlang:system_time(nanosecond)}.
