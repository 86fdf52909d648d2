%% The anchor for the etf-decode benchmark: Erlang's own binary_to_term (C)
%% over the same recorded trace frames. Prints "run <Frames> <ElapsedUs>" per run.
-module(decode_anchor).
-export([main/1]).

main([File, RunsArg]) ->
    {ok, Bin} = file:read_file(File),
    Frames = frames(Bin, []),
    Runs = list_to_integer(RunsArg),
    decode_all(Frames), %% warm-up
    [begin
         T0 = erlang:monotonic_time(microsecond),
         decode_all(Frames),
         T1 = erlang:monotonic_time(microsecond),
         io:format("run ~w ~w~n", [length(Frames), T1 - T0])
     end || _ <- lists:seq(1, Runs)],
    halt(0).

frames(<<0, Size:32, Term:Size/binary, Rest/binary>>, Acc) -> frames(Rest, [Term | Acc]);
frames(<<1, _:32, Rest/binary>>, Acc) -> frames(Rest, Acc);
frames(_, Acc) -> lists:reverse(Acc).

decode_all([]) -> ok;
decode_all([F | Fs]) -> _ = binary_to_term(F), decode_all(Fs).
