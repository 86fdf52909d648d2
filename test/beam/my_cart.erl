%% The application module of the README's dbg attach recipe (README.md, "Attach
%% to a live BEAM node"): a cart gen_server started before the trace, whose
%% checkout spawns a worker, and a poison cast that crashes it. Test:
%% test/beam/dbg_recipe.test.ts types the README's dbg line into the node's shell.
-module(my_cart).
-behaviour(gen_server).
-export([start/0, add/1, checkout/0, poison/0, price/1]).
-export([init/1, handle_call/3, handle_cast/2]).

start() ->
    {ok, Pid} = gen_server:start({local, my_cart}, ?MODULE, [], []),
    io:format("cart ~w~n", [Pid]),
    Pid.

add(Item) -> gen_server:call(my_cart, {add, Item}).
checkout() -> gen_server:call(my_cart, checkout).
poison() -> gen_server:cast(my_cart, poison).

price(Item) -> erlang:phash2(Item, 100).

init([]) -> {ok, []}.

handle_call({add, Item}, _From, Items) ->
    {reply, ok, [Item | Items]};
handle_call(checkout, _From, Items) ->
    Self = self(),
    Worker = spawn(fun() -> Self ! {total, lists:sum([price(I) || I <- Items])} end),
    receive {total, Total} -> {reply, {Worker, Total}, Items} end.

handle_cast(poison, Items) ->
    {noreply, [Items | length(Items) + undefined]}.
