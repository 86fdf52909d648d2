# The forwarder scenario for test/beam/scope_beam_forwarder.test.ts: a real
# Elixir node with scope_beam and a :telemetry stand-in (hex is not reachable;
# see beam-receiver/test/support/telemetry.erl) attached to a real
# beam_telemetry receiver. argv: Port. Commands on stdin, one per line:
#   emit            Phoenix/LiveView/Ecto/Broadway events, a watched GenServer; prints "emitted"
#   outage N        waits until the forwarder lost its connection, emits N events; prints "outage_emitted <max µs per call>"
#   stats           prints "stats <inspect(ScopeBeam.stats())>"
#   detach          ScopeBeam.detach(); prints "detached <handlers left>"
[port] = System.argv()

defmodule Cart do
  use GenServer
  def init(_), do: {:ok, %{items: %{}, total: 0}}
  def handle_call({:add, item, price}, _from, s), do: {:reply, :ok, %{s | items: Map.put(s.items, item, price), total: s.total + price}}
end

defmodule Scenario do
  def native_ms(n), do: n * System.convert_time_unit(1, :millisecond, :native)

  # A Phoenix 1.7 conn with what must never leave the node: cookies, an
  # authorization header, a password param, assigns, session.
  def conn(status) do
    %{__struct__: Plug.Conn, method: "POST", request_path: "/users/42", host: "shop.example.com", scheme: :https,
      status: status, remote_ip: {10, 0, 0, 7}, port: 443, query_string: "token=abc123",
      req_headers: [{"cookie", "_shop_key=SFMyNTYsecret"}, {"authorization", "Bearer eyJhbGciOiJIUzI1NiJ9"},
                    {"user-agent", "curl/8.5.0"}, {"x-request-id", "GHxYz"}],
      resp_headers: [{"x-request-id", "GHxYz"}, {"set-cookie", "_shop_key=SFMyNTYsecret"}],
      params: %{"user" => %{"password" => "hunter2"}}, body_params: %{"user" => %{"password" => "hunter2"}},
      cookies: %{"_shop_key" => "SFMyNTYsecret"}, req_cookies: %{"_shop_key" => "SFMyNTYsecret"},
      assigns: %{current_user: %{email: "ada@example.com"}}, private: %{phoenix_controller: ShopWeb.UserController,
      phoenix_action: :update, plug_session: %{"user_token" => "sess"}}, secret_key_base: "skb-secret"}
  end

  def emit do
    # A request: endpoint span around the router dispatch and an Ecto query, as Phoenix and Ecto emit them.
    :telemetry.span([:phoenix, :endpoint], %{conn: conn(nil)}, fn ->
      router = %{conn: conn(nil), route: "/users/:id", plug: ShopWeb.UserController, plug_opts: :update,
                 path_params: %{"id" => "42"}, pipe_through: [:browser]}
      :telemetry.execute([:phoenix, :router_dispatch, :start], %{system_time: System.system_time()}, router)
      Process.sleep(2)
      :telemetry.execute([:shop, :repo, :query],
                         %{total_time: native_ms(5), query_time: native_ms(4), decode_time: native_ms(1), queue_time: 0, idle_time: native_ms(100)},
                         %{type: :ecto_sql_query, repo: Shop.Repo, source: "users", params: ["hunter2"], cast_params: ["hunter2"],
                           query: ~s{UPDATE "users" SET "password_hash" = $1 WHERE "id" = $2},
                           result: {:ok, %{__struct__: Postgrex.Result, num_rows: 1, rows: nil}}, options: []})
      :telemetry.execute([:phoenix, :router_dispatch, :stop], %{duration: native_ms(42)}, %{router | conn: conn(200)})
      {:ok, %{conn: conn(200)}}
    end)

    socket = %{__struct__: Phoenix.LiveView.Socket, id: "phx-GHx", view: ShopWeb.CheckoutLive, transport_pid: self(),
               assigns: %{card: "4111111111111111"}}
    :telemetry.execute([:phoenix, :live_view, :handle_event, :stop], %{duration: native_ms(3)},
                       %{socket: socket, event: "pay", params: %{"card" => "4111111111111111"}})

    :telemetry.execute([:broadway, :processor, :message, :stop], %{duration: native_ms(2)},
                       %{topology_name: Shop.Orders, name: :"Shop.Orders.Broadway.Processor_default_0", index: 0, processor_key: :default,
                         message: %{__struct__: Broadway.Message, data: "4111111111111111", status: :ok, batcher: :default}})

    {:ok, cart} = GenServer.start(Cart, nil)
    {:ok, _} = ScopeBeam.watch(cart)
    :ok = GenServer.call(cart, {:add, "apple", 5})
    :ok = GenServer.call(cart, {:add, "pear", 3})
    IO.puts("cart #{:erlang.pid_to_list(cart)}")

    # A process whose mailbox the sampler should rank first.
    hog = spawn(fn -> receive do :never -> :ok end end)
    Process.register(hog, :scenario_mailbox_hog)
    for i <- 1..300, do: send(hog, {:job, i})
  end

  def outage(n) do
    wait(fn -> ScopeBeam.stats().connected == false end)
    max_us =
      Enum.reduce(1..n, 0, fn i, acc ->
        {us, :ok} = :timer.tc(fn -> :telemetry.execute([:shop, :outage, :tick], %{i: i}, %{i: i}) end)
        max(us, acc)
      end)

    IO.puts("outage_emitted #{max_us}")
  end

  def wait(fun) do
    if fun.(), do: :ok, else: (Process.sleep(10); wait(fun))
  end

  def loop do
    case IO.gets("") do
      :eof -> :ok
      line ->
        case String.split(String.trim(line)) do
          ["emit"] -> emit(); IO.puts("emitted")
          ["outage", n] -> outage(String.to_integer(n))
          ["stats"] -> IO.puts("stats #{inspect(ScopeBeam.stats())}")
          ["detach"] ->
            :ok = ScopeBeam.detach()
            IO.puts("detached #{length(:telemetry.list_handlers([]))}")
          _ -> :ok
        end

        loop()
    end
  end
end

Logger.configure(level: :warning)
{:ok, _} = ScopeBeam.attach(port: String.to_integer(port), app: :shop, token: "s3cret", ecto_repos: [Shop.Repo],
                            events: [[:shop, :outage, :tick]], sample_interval: 200, top_n: 3, max_queue: 1000,
                            backoff_min: 50, backoff_max: 500)
Scenario.wait(fn -> ScopeBeam.stats().connected == true end)
IO.puts("native #{System.convert_time_unit(1, :second, :native)}")
IO.puts("connected")
Scenario.loop()
