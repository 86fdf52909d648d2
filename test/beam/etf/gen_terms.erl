%% Property-style random term generator for the ETF decoder tests
%% (test/beam/etf/etf_property.test.ts) and the rendering tests
%% (test/beam/render_property.test.ts, through render_terms.exs, which calls
%% env/0, edge_cases/1 and gen/2).
%%
%% Compiled at test time with `erlc` into a temp dir, then run as
%%
%%   erl +pc unicode -noshell -pa Dir -run gen_terms main Seed N OutFile
%%
%% It writes, for every hand-picked edge case and for N random terms, records
%%
%%   <<EncLen:32, Encoded:EncLen/binary, ExpLen:32, Expected:ExpLen/binary>>
%%
%% where Encoded = term_to_binary(T, Opts) and
%% Expected = unicode:characters_to_binary(io_lib:format("~0tp", [T])), the
%% one-line pretty form renderTerm writes (run with `+pc unicode`, so that
%% printable Unicode text shows as text).
%%
%% Record number K (0-based, over the whole file) is always encoded with
%% lists:nth(K rem 6 + 1, options()): every edge case is written once per
%% option (6 consecutive records), random terms cycle through the options.
%% On success it prints `records=R edge=E random=N` and halts with 0; any
%% crash halts with 2.
-module(gen_terms).
-export([main/1, options/0, env/0, edge_cases/1, gen/2]).

-define(DEFAULT_N, 4000).

options() ->
    [[],
     [compressed],
     [{minor_version, 0}],
     [{minor_version, 1}],
     [{minor_version, 2}],
     [{compressed, 9}, {minor_version, 2}]].

main(Args) ->
    try
        {Seed, N, Out} = case Args of
                             [S, O] -> {list_to_integer(S), ?DEFAULT_N, O};
                             [S, Cnt, O] -> {list_to_integer(S), list_to_integer(Cnt), O}
                         end,
        run(Seed, N, Out),
        halt(0)
    catch
        C:E:St ->
            io:format(standard_error, "gen_terms crashed: ~p:~p~n~p~n", [C, E, St]),
            halt(2)
    end.

run(Seed, N, Out) ->
    %% ~0tp shows text as text only for what io:printable_range() allows.
    unicode = io:printable_range(),
    _ = rand:seed(exsss, {Seed, Seed * 7919 + 1, Seed * 104729 + 2}),
    Env = env(),
    Edge = edge_cases(Env),
    Opts = options(),
    EdgeRecs = [record(T, O) || T <- Edge, O <- Opts],
    NOpts = length(Opts),
    RandRecs = [record(gen(Env, 4), lists:nth(I rem NOpts + 1, Opts))
                || I <- lists:seq(0, N - 1)],
    ok = file:write_file(Out, [EdgeRecs, RandRecs]),
    io:format("records=~w edge=~w random=~w~n",
              [length(EdgeRecs) + length(RandRecs), length(Edge), N]).

record(T, Opts) ->
    Enc = term_to_binary(T, Opts),
    Exp = unicode:characters_to_binary(io_lib:format("~0tp", [T])),
    true = is_binary(Exp),
    [<<(byte_size(Enc)):32>>, Enc, <<(byte_size(Exp)):32>>, Exp].

%% ---------------------------------------------------------------------------
%% Things that must come from the running node: pids, ports, refs, funs.

env() ->
    Self = self(),
    Sleeper = fun() -> receive stop -> ok end end,
    Pids = [spawn(Sleeper) || _ <- lists:seq(1, 20)],
    %% Burn through some pid numbers so ids are not all tiny.
    _ = [spawn(fun() -> ok end) || _ <- lists:seq(1, 300)],
    Late = [spawn(Sleeper) || _ <- lists:seq(1, 5)],
    Ports = erlang:ports(),
    Monitor = erlang:monitor(process, hd(Pids)),
    Alias = alias(),
    Refs = [make_ref() || _ <- lists:seq(1, 5)] ++ [Monitor, Alias],
    #{pids => list_to_tuple([Self, list_to_pid("<0.32767.8191>")] ++ Pids ++ Late),
      ports => list_to_tuple(Ports),
      refs => list_to_tuple(Refs)}.

pick(Tuple) when is_tuple(Tuple) ->
    element(rand:uniform(tuple_size(Tuple)), Tuple);
pick(List) when is_list(List) ->
    lists:nth(rand:uniform(length(List)), List).

%% Local funs: with and without free variables (of any type).
local_fun(0) -> fun() -> ok end;
local_fun(1) -> fun(X) -> X end;
local_fun(2) -> fun(X, Y) -> {X, Y} end;
local_fun(3) -> Y = rand:uniform(1000), fun(X) -> X + Y end;
local_fun(4) -> A = atom_a, B = <<"bin">>, fun() -> {A, B} end.

closure_over(T) -> fun() -> T end.
closure_over2(T, U) -> fun(X) -> {X, T, U} end.

%% ---------------------------------------------------------------------------
%% Hand-picked edge cases.

edge_cases(Env) ->
    edge_integers() ++ edge_floats() ++ edge_atoms() ++ edge_binaries()
        ++ edge_lists() ++ edge_tuples() ++ edge_maps() ++ edge_identifiers(Env)
        ++ edge_funs() ++ edge_mixed(Env).

edge_integers() ->
    Bounds = [(1 bsl B) + D || B <- [8, 27, 31, 32, 63, 64], D <- [-2, -1, 0, 1, 2]],
    [0, 1, -1, 42, 255, 256, -255, -256, 65535, 65536,
     134217727, 134217728, -134217728, -134217729,
     2147483647, 2147483648, -2147483648, -2147483649,
     4294967295, 4294967296, -4294967295, -4294967296,
     9223372036854775807, 9223372036854775808,
     -9223372036854775808, -9223372036854775809,
     18446744073709551615, 18446744073709551616, -18446744073709551616,
     9007199254740991, 9007199254740992, 9007199254740993, -9007199254740993,
     (1 bsl (255 * 8)) - 1,            %% largest SMALL_BIG_EXT
     1 bsl (255 * 8),                  %% smallest LARGE_BIG_EXT
     -(1 bsl (255 * 8)),
     pow10(100), -pow10(100), pow10(1000) + 7, -pow10(1000) - 7,
     fact(300), -fact(450),
     erlang:monotonic_time(), erlang:monotonic_time(nanosecond),
     erlang:system_time(), erlang:unique_integer()]
        ++ Bounds ++ [-X || X <- Bounds].

pow10(N) -> pow10(N, 1).
pow10(0, A) -> A;
pow10(N, A) -> pow10(N - 1, A * 10).

fact(0) -> 1;
fact(N) -> N * fact(N - 1).

edge_floats() ->
    [0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 0.2, 0.3, 1.0e10, 1.0e-5, 1.0e-4, 0.001,
     123456789.0, 5.0e-324, -5.0e-324, 1.7976931348623157e308,
     -1.7976931348623157e308, 2.2250738585072014e-308, 2.225073858507201e-308,
     100.0, 1.0e15, 1.0e16, 1.0e17, 1.0e21, 1.0e22, 1.0e23, 1.0e100,
     123456789012345680.0, 9007199254740992.0, 9007199254740994.0,
     3.141592653589793, 2.718281828459045, -2.5e-300, 1.5e300, 6.02214076e23,
     0.30000000000000004, 1.0e-7, 4.35, 12.5, 999999999999999.9,
     float(1 bsl 53), float(1 bsl 63), float(1 bsl 64)].

edge_atoms() ->
    [ '', ok, 'Ok', 'OK', 'hello world', 'Elixir.Foo', 'Elixir.Foo.Bar',
      'and', 'or', 'not', 'xor', 'case', 'of', 'end', 'fun', 'when', 'if',
      'receive', 'after', 'try', 'catch', 'begin', 'query', 'let', 'cond',
      'div', 'rem', 'band', 'bor', 'bxor', 'bnot', 'bsl', 'bsr', 'andalso',
      'orelse', 'true', 'false', 'nil', 'undefined', '_', '_x', 'x_', 'x@y',
      'x.y', 'a1', '1a', 'aB', '@', '[]', '{}', '+', '-', '=', '!', ' ',
      'über', 'ß', 'Über', 'ÿ', 'é', 'café', 'naïve', '×', '÷', 'ø', 'Ø',
      'a\nb', 'a\'b', 'a\\b', '\t', 'a"b', '\r', '\e', '\s', '\f', '\b', '\v',
      list_to_atom([0]), list_to_atom([1, 127, 128, 159, 160, 255]),
      list_to_atom([31, 126]), list_to_atom([173, 223, 247]),
      list_to_atom([16#1F600]), list_to_atom("x" ++ [16#3B1, 16#3B2]),
      list_to_atom([16#4E2D, 16#6587]), list_to_atom([16#100]),
      list_to_atom([16#2028, 16#FEFF, 16#10FFFF]), list_to_atom("é" ++ [16#1F600]),
      list_to_atom(lists:duplicate(255, $a)),
      list_to_atom(lists:duplicate(255, 255)),          %% 510 UTF-8 bytes
      list_to_atom(lists:duplicate(100, 16#1F600)),     %% 400 UTF-8 bytes
      list_to_atom(lists:duplicate(255, 16#1F600))].

edge_binaries() ->
    [<<>>, <<0>>, <<255>>, <<"abc">>, <<"hello world">>, <<"über"/utf8>>,
     list_to_binary(lists:seq(0, 255)), binary:copy(<<0>>, 10000),
     binary:copy(<<"abcdefgh">>, 1000), crypto_free_random_bytes(300),
     <<1:1>>, <<0:1>>, <<1:7>>, <<1, 2, 3:4>>, <<255, 127:7>>, <<0:15>>,
     <<5:3>>, <<(binary:copy(<<7>>, 300))/binary, 1:1>>].

crypto_free_random_bytes(N) ->
    list_to_binary([rand:uniform(256) - 1 || _ <- lists:seq(1, N)]).

edge_lists() ->
    [[], [[]], "a", "abc", [0], [255], [256], [-1], [1.0], [a],
     lists:seq(0, 255), [X rem 256 || X <- lists:seq(1, 65535)],  %% charlist right at the STRING_EXT limit
     [X rem 256 || X <- lists:seq(1, 65536)],            %% one past: LIST_EXT of small ints
     [1 | 2], [a | b], [1, 2 | 3], [[] | []], ["abc" | <<"d">>], [a, b | "cd"],
     [1 | 2.0], [{} | {}], [[1] | [2 | 3]],
     lists:duplicate(1000, foo), lists:duplicate(300, <<"x">>),
     nest_list(100), [[[[[]]]]]].

nest_list(0) -> [];
nest_list(N) -> [nest_list(N - 1)].

nest_tuple(0) -> {};
nest_tuple(N) -> {nest_tuple(N - 1)}.

nest_map(0) -> #{};
nest_map(N) -> #{N => nest_map(N - 1)}.

edge_tuples() ->
    [{}, {{}}, {a}, {a, b}, {1, 2, 3}, {[], <<>>, #{}},
     list_to_tuple(lists:seq(1, 255)), list_to_tuple(lists:seq(1, 256)),
     list_to_tuple(lists:duplicate(300, x)), list_to_tuple(lists:seq(1, 70000)),
     nest_tuple(100), {ok, {error, {nested, [1, 2, {3}]}}}].

edge_maps() ->
    Mixed = fun(I) ->
                    case I rem 8 of
                        0 -> I;
                        1 -> list_to_atom("k" ++ integer_to_list(I));
                        2 -> integer_to_binary(I);
                        3 -> {I, t};
                        4 -> [I];
                        5 -> float(I) + 0.5;
                        6 -> -I * 1000000000000000000000;
                        7 -> #{I => I}
                    end
            end,
    [#{}, #{a => 1}, #{1 => a, a => 1, <<"b">> => [], "s" => {}, 2.5 => x},
     #{#{} => #{}}, #{#{a => 1} => #{b => #{c => #{}}}}, #{[] => [], {} => {}},
     #{1 => a, 1.0 => b}, #{-1 => neg, 1 bsl 70 => big},
     maps:from_list([{I, I} || I <- lists:seq(1, 32)]),
     maps:from_list([{I, I} || I <- lists:seq(1, 33)]),
     maps:from_list([{I, I * I} || I <- lists:seq(1, 200)]),
     maps:from_list([{Mixed(I), Mixed(I + 1)} || I <- lists:seq(1, 100)]),
     maps:from_list([{list_to_atom("key" ++ integer_to_list(I)), I} || I <- lists:seq(1, 40)]),
     maps:from_list([{integer_to_binary(I), #{I => [I]}} || I <- lists:seq(1, 50)]),
     nest_map(100)].

edge_identifiers(#{pids := Pids, ports := Ports, refs := Refs}) ->
    tuple_to_list(Pids) ++ tuple_to_list(Ports) ++ tuple_to_list(Refs)
        ++ [{tuple_to_list(Pids), tuple_to_list(Ports), tuple_to_list(Refs)}].

edge_funs() ->
    [fun lists:map/2, fun erlang:'+'/2, fun erlang:self/0, fun io:format/2,
     erlang:make_fun('Elixir.Foo', 'bar baz', 0),
     erlang:make_fun('über', 'ünicode', 3),
     erlang:make_fun(list_to_atom([16#1F600]), list_to_atom([16#3B1]), 255),
     local_fun(0), local_fun(1), local_fun(2), local_fun(3), local_fun(4),
     closure_over(self()), closure_over(make_ref()),
     closure_over([1, 2, {3, <<4>>}, #{5 => 6}]),
     closure_over(fun lists:map/2), closure_over(closure_over(x)),
     closure_over2(1 bsl 100, 3.5), closure_over2(<<1:3>>, "str"),
     [local_fun(I) || I <- lists:seq(0, 4)]].

edge_mixed(Env) ->
    [{ok, self(), make_ref(), [1, 2.5, "x", <<"y">>, #{z => 'Z'}]},
     [{'$gen_call', {self(), make_ref()}, {get, key}}],
     {'EXIT', self(), normal}, {trace, self(), send, {hello, <<"w">>}, self()},
     lists:duplicate(200, {a, 1, <<"abc">>}),    %% compresses well
     [gen(Env, 4) || _ <- lists:seq(1, 40)]].

%% ---------------------------------------------------------------------------
%% Random terms of bounded depth and size.

gen(Env, Depth) when Depth =< 0 -> leaf(Env);
gen(Env, Depth) ->
    case rand:uniform(20) of
        N when N =< 9 -> leaf(Env);
        10 -> gen_list(Env, Depth);
        11 -> gen_list(Env, Depth);
        12 -> gen_improper(Env, Depth);
        13 -> gen_tuple(Env, Depth);
        14 -> gen_tuple(Env, Depth);
        15 -> gen_map(Env, Depth);
        16 -> gen_map(Env, Depth);
        17 -> case rand:uniform(8) of
                  1 -> gen_big_map(Env);
                  2 -> gen_big_tuple(Env);
                  _ -> gen_tuple(Env, Depth)
              end;
        18 -> closure_over2(gen(Env, Depth - 1), gen(Env, Depth - 2));
        19 -> gen_charlist();
        20 -> gen_list(Env, Depth)
    end.

width(Depth) -> rand:uniform(max(1, 9 - 2 * (4 - Depth))) - 1.

gen_list(Env, Depth) -> [gen(Env, Depth - 1) || _ <- lists:seq(1, width(Depth))].

gen_improper(Env, Depth) ->
    Tail = case rand:uniform(4) of
               1 -> leaf(Env);
               2 -> gen_tuple(Env, Depth - 1);
               3 -> gen_bits();
               4 -> rand_int()
           end,
    Elems = [gen(Env, Depth - 1) || _ <- lists:seq(1, width(Depth) + 1)],
    lists:foldr(fun(E, Acc) -> [E | Acc] end, Tail, Elems).

gen_tuple(Env, Depth) -> list_to_tuple(gen_list(Env, Depth)).

gen_map(Env, Depth) ->
    maps:from_list([{gen(Env, Depth - 2), gen(Env, Depth - 1)} || _ <- lists:seq(1, width(Depth))]).

gen_big_map(Env) ->
    N = 33 + rand:uniform(40),
    maps:from_list([{case rand:uniform(3) of
                         1 -> I;
                         2 -> leaf(Env);
                         3 -> {I, leaf(Env)}
                     end, leaf(Env)} || I <- lists:seq(1, N)]).

gen_big_tuple(Env) ->
    list_to_tuple([leaf(Env) || _ <- lists:seq(1, 255 + rand:uniform(60))]).

gen_charlist() -> [rand:uniform(256) - 1 || _ <- lists:seq(1, rand:uniform(30))].

leaf(#{pids := Pids, ports := Ports, refs := Refs}) ->
    case rand:uniform(26) of
        N when N =< 6 -> rand_int();
        N when N =< 10 -> rand_float();
        N when N =< 14 -> rand_atom();
        15 -> rand_bytes(rand:uniform(40) - 1);
        16 -> rand_bytes(rand:uniform(3) - 1);
        17 -> gen_bits();
        18 -> gen_charlist();
        19 -> pick(Pids);
        20 -> pick(Ports);
        21 -> pick(Refs);
        22 -> pick([fun lists:map/2, fun erlang:abs/1, fun maps:get/3,
                    erlang:make_fun(rand_atom(), rand_atom(), rand:uniform(256) - 1)]);
        23 -> local_fun(rand:uniform(5) - 1);
        24 -> pick([[], {}, #{}, <<>>, "", 0, 0.0, -0.0, '']);
        25 -> erlang:monotonic_time() - rand:uniform(1 bsl 40);
        26 -> -rand:uniform(1 bsl 62)
    end.

rand_int() ->
    case rand:uniform(10) of
        1 -> rand:uniform(256) - 1;
        2 -> rand:uniform(1 bsl 27) - (1 bsl 26);
        3 -> B = pick([27, 31, 32, 63, 64]),
             sign() * ((1 bsl B) + rand:uniform(7) - 4);
        4 -> sign() * rand:uniform(1 bsl rand:uniform(128));
        5 -> sign() * big_digits(rand:uniform(120));
        6 -> case rand:uniform(10) of
                 1 -> sign() * big_digits(300 + rand:uniform(900));   %% LARGE_BIG_EXT
                 _ -> sign() * big_digits(20 + rand:uniform(280))
             end;
        7 -> erlang:monotonic_time();
        8 -> sign() * rand:uniform(1 bsl 31);
        9 -> sign() * rand:uniform(1 bsl 64);
        10 -> -rand:uniform(256)
    end.

sign() -> pick([1, -1]).

big_digits(N) ->
    list_to_integer([$0 + rand:uniform(9) | [$0 + rand:uniform(10) - 1 || _ <- lists:seq(2, N)]]).

rand_float() ->
    case rand:uniform(6) of
        1 -> pick(edge_floats());
        2 -> rand_bits_float();
        3 -> rand_bits_float();
        4 -> sign() * rand:uniform() * math:pow(10, rand:uniform(40) - 20);
        5 -> float(sign() * rand:uniform(1 bsl 53));
        6 -> sign() * rand:uniform(100000) / pick([10, 100, 1000, 8, 3])
    end.

rand_bits_float() ->
    <<Hi:1, Exp:11, Frac:52>> = <<(rand:uniform(1 bsl 64) - 1):64>>,
    Exp1 = case Exp of 2047 -> rand:uniform(2046); _ -> Exp end,   %% no NaN or infinity
    <<F:64/float>> = <<Hi:1, Exp1:11, Frac:52>>,
    F.

-define(ATOM_CHARS,
        {$a, $b, $z, $A, $Z, $0, $9, $_, $@, $., $\s, $', $\\, $\n, $", $-,
         0, 7, 127, 128, 159, 160, 173, 192, 215, 223, 224, 246, 247, 252, 255,
         16#100, 16#3B1, 16#416, 16#4E2D, 16#1F600, 16#10FFFF}).

rand_atom() ->
    case rand:uniform(3) of
        1 -> pick(edge_atoms());
        2 -> list_to_atom([pick("abcxyz") | [pick("abcdefxyz_@0129ABZ") || _ <- lists:seq(1, rand:uniform(10) - 1)]]);
        3 -> list_to_atom([pick(?ATOM_CHARS) || _ <- lists:seq(1, rand:uniform(12) - 1)])
    end.

rand_bytes(N) -> list_to_binary([rand:uniform(256) - 1 || _ <- lists:seq(1, N)]).

gen_bits() ->
    Bytes = rand_bytes(rand:uniform(10) - 1),
    Bits = rand:uniform(7),
    <<Bytes/binary, (rand:uniform(1 bsl Bits) - 1):Bits>>.
