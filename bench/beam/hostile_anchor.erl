%% The anchor for etf-decode's hostile table: Erlang's own binary_to_term (C)
%% on each hand-built input. Prints "term <Index> <MedianUs> value|badarg" per input.
-module(hostile_anchor).
-export([main/1]).

main([File, RunsArg]) ->
    {ok, Bin} = file:read_file(File),
    Runs = list_to_integer(RunsArg),
    Terms = frames(Bin, []),
    lists:foldl(fun(T, I) -> measure(I, T, Runs), I + 1 end, 0, Terms),
    halt(0).

measure(I, T, Runs) ->
    _ = decode(T), %% warm-up
    Times = lists:sort([begin
                            T0 = erlang:monotonic_time(microsecond),
                            _ = decode(T),
                            erlang:monotonic_time(microsecond) - T0
                        end || _ <- lists:seq(1, Runs)]),
    io:format("term ~w ~w ~s~n", [I, lists:nth((Runs + 1) div 2, Times), decode(T)]).

decode(T) ->
    try binary_to_term(T) of _ -> "value" catch error:badarg -> "badarg" end.

frames(<<0, Size:32, Term:Size/binary, Rest/binary>>, Acc) -> frames(Rest, [Term | Acc]);
frames(_, Acc) -> lists:reverse(Acc).
