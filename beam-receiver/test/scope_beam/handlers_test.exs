defmodule ScopeBeam.HandlersTest do
  # The forwarder's :telemetry handlers, invoked exactly as :telemetry invokes
  # them — handler(event_name, measurements, metadata, config) in the emitting
  # process — with metadata shaped as Phoenix 1.7, LiveView 0.20/1.0, Ecto 3 and
  # Broadway 1.x produce it. What would go on the wire is the term offered to
  # the queue; each test checks it after a term_to_binary round trip.
  use ExUnit.Case, async: true

  import ScopeBeam.TelemetryFixtures
  alias ScopeBeam.Forwarder.{Handlers, Queue}

  # Strings that must never leave the node whatever the event.
  @secrets ["hunter2", "SFMyNTY", "Bearer", "eyJhbGci", "a-very-secret-key-base", "token=abc", "csrf-secret",
            "secret-token", "4111111111111111", "hashed_password", "user_token", "return_to"]

  defp config(group, opts \\ []) do
    %{
      queue: Queue.new(self(), Keyword.get(opts, :max_queue, 100)),
      group: group,
      include_params: Keyword.get(opts, :include_params, false),
      max_value_bytes: Keyword.get(opts, :max_value_bytes, 1024)
    }
  end

  # Calls the handler as :telemetry does and returns what it put on the wire.
  defp fire(group, event, measurements, metadata, opts \\ []) do
    cfg = config(group, opts)
    assert :ok = Handlers.handle_event(event, measurements, metadata, cfg)
    assert_received {:scope_beam_term, term}
    wire = :erlang.term_to_binary(term)

    unless Keyword.get(opts, :include_params, false) do
      for secret <- @secrets, do: assert(:binary.match(wire, secret) == :nomatch, "#{secret} went on the wire")
    end

    {:telemetry, ^event, m, meta, time} = :erlang.binary_to_term(wire)
    assert abs(time - System.system_time(:nanosecond)) < 5_000_000_000
    assert meta.pid == self()
    {m, meta}
  end

  @conn_fields %{
    method: "POST",
    path: "/users/log_in",
    host: "shop.example.com",
    scheme: :https,
    status: 302,
    remote_ip: "10.1.2.3",
    request_id: "F7r1nq2k",
    user_agent: "Mozilla/5.0 (X11; Linux x86_64)",
    controller: ShopWeb.UserSessionController,
    action: :create
  }

  describe "Phoenix 1.7" do
    test "endpoint start and stop: the chosen conn fields, never cookies, headers, params, assigns or session" do
      native = System.convert_time_unit(1, :millisecond, :native)
      ctx = make_ref()

      {m, meta} =
        fire(:phoenix, [:phoenix, :endpoint, :start], %{system_time: System.system_time(), monotonic_time: -5},
             %{conn: conn(%{status: nil, state: :unset}), options: [], telemetry_span_context: ctx})

      assert Map.keys(m) == [:monotonic_time, :system_time]
      assert meta == %{pid: self(), telemetry_span_context: ctx} |> Map.merge(Map.delete(@conn_fields, :status))

      {m, meta} = fire(:phoenix, [:phoenix, :endpoint, :stop], %{duration: 42 * native}, %{conn: conn(), options: []})
      assert m == %{duration: 42 * native}
      assert meta == Map.put(@conn_fields, :pid, self())
    end

    test "router_dispatch start/stop/exception: route, plug, action, pipelines; the exception's type, message and stack" do
      meta = %{conn: conn(), route: "/users/log_in", plug: ShopWeb.UserSessionController, plug_opts: :create,
               path_params: %{"id" => "42"}, pipe_through: [:browser, :redirect_if_user_is_authenticated], log: :debug}

      {_, start} = fire(:phoenix, [:phoenix, :router_dispatch, :start], %{system_time: 1, monotonic_time: 1}, meta)
      assert start.route == "/users/log_in"
      assert start.plug == ShopWeb.UserSessionController
      assert start.plug_opts == :create
      assert start.pipe_through == [:browser, :redirect_if_user_is_authenticated]
      refute Map.has_key?(start, :path_params)
      refute Map.has_key?(start, :log)

      {_, stop} = fire(:phoenix, [:phoenix, :router_dispatch, :stop], %{duration: 10}, meta)
      refute Map.has_key?(stop, :exception_type)

      stack = [{ShopWeb.UserSessionController, :create, 2, [file: ~c"lib/shop_web/controllers/user_session_controller.ex", line: 12]}]
      exception = Map.merge(meta, %{kind: :error, reason: %RuntimeError{message: "boom"}, stacktrace: stack})
      {_, exc} = fire(:phoenix, [:phoenix, :router_dispatch, :exception], %{duration: 10}, exception)
      assert exc.kind == :error
      assert exc.exception_type == "RuntimeError"
      assert exc.exception_message == "boom"
      assert exc.stacktrace =~ "ShopWeb.UserSessionController.create/2"
      assert exc.stacktrace =~ "user_session_controller.ex:12"
    end

    test "path params only with include_params: true" do
      meta = %{conn: conn(), route: "/users/:id", plug: ShopWeb.UserController, plug_opts: :show,
               path_params: %{"id" => "42"}, pipe_through: [:browser]}
      {_, with} = fire(:phoenix, [:phoenix, :router_dispatch, :start], %{}, meta, include_params: true)
      assert with.path_params == ~s(%{"id" => "42"})
    end

    test "error_rendered, a throw and an exit rendered" do
      {_, meta} = fire(:phoenix, [:phoenix, :error_rendered], %{duration: 5},
                       %{conn: conn(%{status: 500}), status: 500, kind: :throw, reason: {:oops, 1}, stacktrace: [], log: :debug})
      assert meta.status == 500
      assert meta.exception_type == "throw"
      assert meta.exception_message == "{:oops, 1}"
      refute Map.has_key?(meta, :stacktrace)
    end

    test "socket_connected: endpoint, socket, transport, result; connect params left out" do
      {_, meta} =
        fire(:phoenix, [:phoenix, :socket_connected], %{duration: 7},
             %{endpoint: ShopWeb.Endpoint, transport: :websocket, params: %{"token" => "secret-token"},
               connect_info: %{session: %{"user_token" => "x"}}, vsn: "2.0.0", user_socket: ShopWeb.UserSocket,
               log: :info, result: :ok, serializer: Phoenix.Socket.V2.JSONSerializer})

      assert meta == %{pid: self(), endpoint: ShopWeb.Endpoint, transport: :websocket, vsn: "2.0.0",
                       user_socket: ShopWeb.UserSocket, result: :ok, serializer: Phoenix.Socket.V2.JSONSerializer}
    end

    test "channel_joined and channel_handled_in: topic, channel and event, not the socket's assigns or the params" do
      {_, joined} = fire(:phoenix, [:phoenix, :channel_joined], %{duration: 3},
                         %{result: :ok, params: %{"password" => "hunter2"}, socket: channel_socket()})
      assert joined == %{pid: self(), topic: "room:lobby", channel: ShopWeb.RoomChannel, endpoint: ShopWeb.Endpoint,
                         transport: :websocket, result: :ok}

      {_, handled} = fire(:phoenix, [:phoenix, :channel_handled_in], %{duration: 3},
                          %{event: "new_msg", params: %{"body" => "hunter2"}, socket: channel_socket()})
      assert handled.event == "new_msg"
      assert handled.topic == "room:lobby"
      refute Map.has_key?(handled, :params)
    end

    test "controller render: view, template, format" do
      {_, meta} = fire(:phoenix, [:phoenix, :controller, :render, :stop], %{duration: 1},
                       %{view: ShopWeb.UserSessionHTML, template: "new", format: "html", conn: conn()})
      assert meta.view == ShopWeb.UserSessionHTML
      assert meta.template == "new"
      assert meta.format == "html"
      assert meta.method == "POST"
    end
  end

  describe "LiveView 0.20 / 1.0" do
    test "mount, handle_params, handle_event, render × start/stop/exception: view, socket id, event, uri without its query" do
      socket = live_socket()
      base = %{pid: self(), view: ShopWeb.CartLive, socket_id: "phx-F7r1nq2kXyz", transport_pid: self(), connected: true}

      {_, mount} = fire(:live_view, [:phoenix, :live_view, :mount, :start], %{system_time: 1, monotonic_time: 1},
                        %{socket: socket, params: %{"coupon" => "SECRET"}, session: %{"user_token" => "t"}, uri: "https://shop.example.com/cart?return_to=x"})
      assert mount == base

      {_, params} = fire(:live_view, [:phoenix, :live_view, :handle_params, :stop], %{duration: 2},
                         %{socket: socket, params: %{"coupon" => "SECRET"}, uri: "https://shop.example.com/cart?token=abc#top"})
      assert params == Map.put(base, :uri, "https://shop.example.com/cart")

      {_, event} = fire(:live_view, [:phoenix, :live_view, :handle_event, :stop], %{duration: 2},
                        %{socket: socket, event: "add_card", params: %{"card" => "4111111111111111"}})
      assert event == Map.put(base, :event, "add_card")

      {_, render} = fire(:live_view, [:phoenix, :live_view, :render, :stop], %{duration: 2},
                         %{socket: socket, force?: false, changed?: true})
      assert render == Map.merge(base, %{force: false, changed: true})

      {_, exc} = fire(:live_view, [:phoenix, :live_view, :handle_event, :exception], %{duration: 2},
                      %{socket: socket, event: "add_card", params: %{}, kind: :error,
                        reason: %ArgumentError{message: "bad card"}, stacktrace: []})
      assert exc.exception_type == "ArgumentError"
      assert exc.exception_message == "bad card"
    end

    test "a disconnected mount (the first, static render) says so" do
      {_, mount} = fire(:live_view, [:phoenix, :live_view, :mount, :stop], %{duration: 1},
                        %{socket: live_socket(%{transport_pid: nil}), params: :not_mounted_at_router, session: %{}})
      assert mount.connected == false
      refute Map.has_key?(mount, :transport_pid)
    end

    test "live_component handle_event and update (1.0)" do
      {_, ev} = fire(:live_view, [:phoenix, :live_component, :handle_event, :stop], %{duration: 1},
                     %{socket: live_socket(), component: ShopWeb.ItemComponent, event: "remove", params: %{"id" => "1"}})
      assert ev.component == ShopWeb.ItemComponent
      assert ev.event == "remove"

      {_, up} = fire(:live_view, [:phoenix, :live_component, :update, :start], %{system_time: 1},
                     %{socket: live_socket(), component: ShopWeb.ItemComponent, assigns_sockets: [{%{id: 1}, live_socket()}]})
      assert up.component == ShopWeb.ItemComponent
      refute Map.has_key?(up, :assigns_sockets)
    end

    test "params with include_params: true" do
      {_, ev} = fire(:live_view, [:phoenix, :live_view, :handle_event, :stop], %{duration: 2},
                     %{socket: live_socket(), event: "save", params: %{"qty" => "2"}}, include_params: true)
      assert ev.params == ~s(%{"qty" => "2"})
    end
  end

  describe "Ecto 3" do
    test "[app, :repo, :query]: repo, source, query text, row count, the four times; params never by default" do
      measurements = ecto_measurements()
      {m, meta} = fire(:ecto, [:shop, :repo, :query], measurements, ecto_query_metadata())
      assert m == measurements
      assert meta == %{pid: self(), repo: Shop.Repo, adapter: Ecto.Adapters.Postgres, source: "users", type: :ecto_sql_query, result: :ok, result_rows: 2,
                       query: ~s{SELECT u0."id", u0."email" FROM "users" AS u0 WHERE (u0."email" = $1) AND (u0."password" = $2)}}
    end

    test "an error result carries its message; params with include_params: true" do
      error = %{__struct__: DBConnection.ConnectionError, __exception__: true, message: "tcp connect: connection refused", severity: :error, reason: :error}
      {_, meta} = fire(:ecto, [:shop, :repo, :query], %{total_time: 1}, ecto_query_metadata(%{result: {:error, error}}), include_params: true)
      assert meta.result == :error
      assert meta.error =~ "connection refused"
      refute Map.has_key?(meta, :result_rows)
      assert meta.params == ~s(["ada@example.com", "hunter2"])
    end

    test "long query text is cut on a character boundary" do
      query = "SELECT '" <> String.duplicate("é", 5000) <> "'"
      {_, meta} = fire(:ecto, [:shop, :repo, :query], %{}, ecto_query_metadata(%{query: query}))
      assert byte_size(meta.query) <= 4096
      assert String.valid?(meta.query)
      assert String.ends_with?(meta.query, "...")
    end
  end

  describe "Broadway 1.x" do
    test "topology init: name, supervisor, producer module" do
      config = [name: Shop.Pipeline, producer: [module: {BroadwayRabbitMQ.Producer, queue: "orders", connection: [password: "hunter2"]}, concurrency: 1],
                processors: [default: [concurrency: 10]], batchers: [default: [batch_size: 10]]]
      {_, meta} = fire(:broadway, [:broadway, :topology, :init], %{system_time: 1}, %{config: config, supervisor_pid: self()})
      assert meta == %{pid: self(), topology_name: Shop.Pipeline, supervisor_pid: self(), producer: "BroadwayRabbitMQ.Producer"}
    end

    test "processor and per-message start/stop/exception: names, index, counts; message data never" do
      msgs = [broadway_message(), broadway_message(%{status: {:failed, "card declined"}})]
      common = %{topology_name: Shop.Pipeline, name: :"Shop.Pipeline.Broadway.Processor_default_0", index: 0,
                 processor_key: :default, context: %{secret: "hunter2"}, producer: Shop.Pipeline.Broadway.Producer_0}

      {m, start} = fire(:broadway, [:broadway, :processor, :start], %{system_time: 5, time: -9}, Map.put(common, :messages, msgs))
      assert m == %{system_time: 5, monotonic_time: -9}
      assert start == %{pid: self(), topology_name: Shop.Pipeline, name: :"Shop.Pipeline.Broadway.Processor_default_0",
                        index: 0, processor_key: :default, messages: 2}

      {_, stop} = fire(:broadway, [:broadway, :processor, :stop], %{duration: 3},
                       Map.merge(common, %{messages: msgs, successful_messages: [hd(msgs)], failed_messages: tl(msgs)}))
      assert {stop.successful_messages, stop.failed_messages} == {1, 1}

      {_, mstop} = fire(:broadway, [:broadway, :processor, :message, :stop], %{duration: 3}, Map.put(common, :message, hd(tl(msgs))))
      assert mstop.message_status == ~s(failed: "card declined")
      assert mstop.message_batcher == :default

      {_, mexc} = fire(:broadway, [:broadway, :processor, :message, :exception], %{duration: 3},
                       Map.merge(common, %{message: hd(msgs), kind: :exit, reason: :timeout, stacktrace: []}))
      assert {mexc.exception_type, mexc.exception_message} == {"exit", ":timeout"}
    end

    test "batcher and batch_processor: batch key, size, trigger" do
      msgs = [broadway_message(), broadway_message()]
      {_, b} = fire(:broadway, [:broadway, :batcher, :start], %{system_time: 1},
                    %{topology_name: Shop.Pipeline, name: :"Shop.Pipeline.Broadway.Batcher_default", batcher_key: :default, messages: msgs})
      assert {b.batcher_key, b.messages} == {:default, 2}

      {_, bp} = fire(:broadway, [:broadway, :batch_processor, :stop], %{duration: 1},
                     %{topology_name: Shop.Pipeline, name: :"Shop.Pipeline.Broadway.BatchProcessor_default_0", index: 0,
                       messages: msgs, batch_info: batch_info(), successful_messages: msgs, failed_messages: []})
      assert {bp.batch_key, bp.batch_size, bp.batch_trigger, bp.successful_messages, bp.failed_messages} == {":default", 2, :size, 2, 0}
      refute Map.has_key?(bp, :batch_partition)
    end
  end

  describe "robustness" do
    test "events named in events: keep scalar metadata only" do
      {_, meta} = fire(:custom, [:shop, :checkout, :done], %{amount: 12.5, note: "x"},
                       %{order_id: 42, status: :paid, user: %{password: "hunter2"}, items: [1, 2], label: "fast", raw: <<255>>})
      assert meta == %{pid: self(), order_id: 42, status: :paid, label: "fast"}
    end

    test "odd metadata never raises in the caller: counted as handler_error at worst" do
      cfg = config(:phoenix)
      assert :ok = Handlers.handle_event([:phoenix, :endpoint, :stop], %{duration: 1}, %{conn: "not a conn"}, cfg)
      assert_received {:scope_beam_term, {:telemetry, _, _, %{pid: _}, _}}
      assert :ok = Handlers.handle_event([:phoenix, :live_view, :render, :stop], %{}, %{socket: 42}, cfg)
      assert_received {:scope_beam_term, _}
      assert :ok = Handlers.handle_event([:shop, :repo, :query], :not_a_map, %{}, %{cfg | group: :ecto})
      assert Queue.stats(cfg.queue).dropped.handler_error == 1
    end

    test "a full queue drops and counts; the caller never waits" do
      cfg = config(:phoenix, max_queue: 2)
      for _ <- 1..5, do: assert(:ok = Handlers.handle_event([:phoenix, :endpoint, :stop], %{duration: 1}, %{conn: conn()}, cfg))
      assert %{queued: 2, dropped: %{queue_full: 3}} = Queue.stats(cfg.queue)
    end

    test "no sender running: dropped and counted as no_sender" do
      queue = Queue.new(:scope_beam_no_such_sender, 10)
      assert :dropped = Queue.offer(queue, :x)
      assert %{queued: 0, dropped: %{no_sender: 1}} = Queue.stats(queue)
    end
  end

  describe "attached through :telemetry" do
    test "attach_many on start, events delivered from the emitting process, detached when the process stops" do
      queue = Queue.new(self(), 100)
      cfg = %{queue: queue, handlers: [:phoenix, :ecto], ecto_prefixes: [[:shop, :repo]], events: [[:shop, :done]],
              include_params: false, max_value_bytes: 1024}
      {:ok, pid} = Handlers.start_link(cfg)
      ids = for h <- :telemetry.list_handlers([]), do: h.id
      assert {ScopeBeam.Forwarder, :phoenix} in ids
      assert {ScopeBeam.Forwarder, :ecto} in ids
      assert {ScopeBeam.Forwarder, :custom} in ids

      :telemetry.span([:phoenix, :endpoint], %{conn: conn()}, fn -> {:ok, %{conn: conn()}} end)
      assert_receive {:scope_beam_term, {:telemetry, [:phoenix, :endpoint, :start], %{system_time: _}, %{telemetry_span_context: ctx}, _}}
      assert_receive {:scope_beam_term, {:telemetry, [:phoenix, :endpoint, :stop], %{duration: _}, %{telemetry_span_context: ^ctx, status: 302}, _}}
      :telemetry.execute([:shop, :repo, :query], ecto_measurements(), ecto_query_metadata())
      assert_receive {:scope_beam_term, {:telemetry, [:shop, :repo, :query], _, %{source: "users"}, _}}

      GenServer.stop(pid)
      assert Enum.filter(:telemetry.list_handlers([]), &match?({ScopeBeam.Forwarder, _}, &1.id)) == []
      :telemetry.execute([:shop, :repo, :query], ecto_measurements(), ecto_query_metadata())
      refute_receive {:scope_beam_term, _}, 50
    end
  end
end
