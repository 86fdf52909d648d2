defmodule ScopeBeam.ForwarderTest do
  # ScopeBeam.attach/1 end to end inside this node: the forwarder connects to
  # a listener speaking the receiver's side of protocol 1 (FakeReceiver).
  use ExUnit.Case, async: false

  import ExUnit.CaptureLog
  import ScopeBeam.TelemetryFixtures
  alias ScopeBeam.FakeReceiver

  setup do
    on_exit(fn -> ScopeBeam.detach() end)
    :ok
  end

  defp attach(port, opts \\ []) do
    {:ok, pid} = ScopeBeam.attach(Keyword.merge([port: port, app: :shop, sample_interval: :infinity, backoff_min: 50, backoff_max: 200], opts))
    pid
  end

  defp telemetry_term?(name), do: &match?({:telemetry, ^name, _, _, _}, &1)

  test "hello (protocol 1, node, clock, app, token), then the application's telemetry events as frames" do
    {lsock, port} = FakeReceiver.listen()
    attach(port, token: "s3cret")
    {sock, {:scope_hello, hello}} = FakeReceiver.accept(lsock)

    assert hello.protocol == 1
    assert hello.node == node()
    assert hello.app == :shop
    assert hello.token == "s3cret"
    assert hello.otp_release == List.to_string(:erlang.system_info(:otp_release))
    assert hello.elixir_version == System.version()
    assert hello.native_units_per_second == :erlang.convert_time_unit(1, :second, :native)
    assert abs(hello.time_offset_ns - :erlang.time_offset(:nanosecond)) < 1_000_000_000

    # Wait until the forwarder has taken the welcome (connected) before emitting.
    wait_until(fn -> ScopeBeam.stats().connected == true end)
    :telemetry.execute([:phoenix, :endpoint, :stop], %{duration: 123}, %{conn: conn()})
    assert {:ok, {:telemetry, [:phoenix, :endpoint, :stop], %{duration: 123}, meta, _}} =
             FakeReceiver.read_until(sock, telemetry_term?([:phoenix, :endpoint, :stop]))
    assert meta.path == "/users/log_in"
    refute Map.has_key?(meta, :conn)
    wait_until(fn -> ScopeBeam.stats().sent >= 1 end)

    :ok = ScopeBeam.detach()
    assert {:error, :closed} = FakeReceiver.read(sock, 1_000)
    assert Enum.filter(:telemetry.list_handlers([]), &match?({ScopeBeam.Forwarder, _}, &1.id)) == []
    assert {:error, :not_attached} = ScopeBeam.stats()
  end

  test "a refused hello is logged with the receiver's reason and retried, never sending events" do
    {lsock, port} = FakeReceiver.listen()

    log =
      capture_log(fn ->
        attach(port, token: "wrong")
        {sock, _} = FakeReceiver.accept(lsock, {:scope_refused, "missing or wrong token"})
        :gen_tcp.close(sock)
        wait_until(fn -> match?(%{last_error: {:refused, _}}, ScopeBeam.stats()) end)
      end)

    assert log =~ "refused this node: missing or wrong token"
    assert %{connected: false} = ScopeBeam.stats()
    # Retried (at backoff_max), and refused again.
    {sock, {:scope_hello, _}} = FakeReceiver.accept(lsock, {:scope_refused, "missing or wrong token"})
    :gen_tcp.close(sock)
  end

  test "receiver down: events wait in the bounded queue (excess counted), then arrive in order once it is up" do
    {lsock, port} = FakeReceiver.listen()
    :gen_tcp.close(lsock)

    capture_log(fn ->
      attach(port, max_queue: 5, ecto_repos: [Shop.Repo])
      for i <- 1..8, do: :telemetry.execute([:shop, :repo, :query], %{total_time: i}, ecto_query_metadata())
      assert %{queued: 5, dropped: %{queue_full: 3}, connected: false} = ScopeBeam.stats()

      {lsock, ^port} = FakeReceiver.listen(port)
      {sock, _} = FakeReceiver.accept(lsock)

      times =
        for _ <- 1..5 do
          {:ok, {:telemetry, [:shop, :repo, :query], %{total_time: t}, _, _}} = FakeReceiver.read(sock)
          t
        end

      assert times == [1, 2, 3, 4, 5]
      wait_until(fn -> match?(%{queued: 0, sent: 5}, ScopeBeam.stats()) end)
    end)
  end

  test "the connection lost: reconnects with backoff and goes on" do
    {lsock, port} = FakeReceiver.listen()

    capture_log(fn ->
      attach(port)
      {sock, _} = FakeReceiver.accept(lsock)
      :gen_tcp.close(sock)
      {sock2, _} = FakeReceiver.accept(lsock)
      wait_until(fn -> ScopeBeam.stats().connected == true end)
      :telemetry.execute([:phoenix, :error_rendered], %{duration: 1}, %{conn: conn(), status: 500, kind: :error, reason: :boom, stacktrace: []})
      assert {:ok, {:telemetry, [:phoenix, :error_rendered], _, %{status: 500}, _}} = FakeReceiver.read(sock2)
      assert ScopeBeam.stats().reconnects == 1
    end)
  end

  test "the sampler sends system gauges, the top processes and the forwarder's own counters" do
    {lsock, port} = FakeReceiver.listen()
    attach(port, sample_interval: 100, top_n: 3)
    {sock, _} = FakeReceiver.accept(lsock)

    # A process with a long mailbox is among the top ones.
    hog = spawn(fn -> receive do :never -> :ok end end)
    Process.register(hog, :scope_beam_test_hog)
    for i <- 1..500, do: send(hog, {:work, i})

    {:ok, {:scope_metrics, time, points}} = FakeReceiver.read_until(sock, &match?({:scope_metrics, _, _}, &1))
    assert abs(time - System.system_time(:nanosecond)) < 5_000_000_000
    names = MapSet.new(points, &elem(&1, 0))
    for n <- ~w(beam.process.count beam.port.count beam.atom.count beam.run_queue beam.memory
                beam.process.message_queue_len beam.process.memory beam.process.reductions
                scope_beam.forwarder.sent scope_beam.forwarder.queued scope_beam.forwarder.dropped),
        do: assert(n in names, "#{n} missing")

    assert {_, :gauge, "{message}", 500, attrs} =
             Enum.find(points, &match?({"beam.process.message_queue_len", _, _, _, %{"beam.pid": ^hog}}, &1))
    assert attrs[:"beam.registered_name"] == :scope_beam_test_hog
    assert attrs[:"beam.current_function"] =~ "receive" or is_binary(attrs[:"beam.current_function"])
    assert Enum.any?(points, &match?({"beam.memory", :gauge, "By", _, %{type: :total}}, &1))
    assert Enum.all?(points, fn {_, type, unit, value, attrs} -> type in [:gauge, :sum] and is_binary(unit) and is_number(value) and is_map(attrs) end)
    Process.exit(hog, :kill)
  end

  test "an idle connection carries a scope_keepalive every keepalive_interval, and none while terms flow" do
    {lsock, port} = FakeReceiver.listen()
    attach(port, keepalive_interval: 200)
    {sock, {:scope_hello, _}} = FakeReceiver.accept(lsock)
    wait_until(fn -> ScopeBeam.stats().connected == true end)

    # Nothing to send: keepalives (the receiver's idle_timeout then sees a live connection).
    assert {:ok, :scope_keepalive} = FakeReceiver.read(sock, 2_000)
    assert {:ok, :scope_keepalive} = FakeReceiver.read(sock, 2_000)

    # An event every 20 ms: the connection is never idle for 200 ms, so no keepalive among them.
    for i <- 1..10 do
      :telemetry.execute([:phoenix, :endpoint, :stop], %{duration: i}, %{conn: conn()})
      Process.sleep(20)
    end

    terms = read_terms(sock, 10, [])
    # Keepalives may come before the first event (sent before it); none after it.
    after_first = Enum.drop_while(terms, &(&1 == :scope_keepalive))
    assert Enum.map(after_first, fn {:telemetry, _, %{duration: d}, _, _} -> d end) == Enum.to_list(1..10)
    # Idle again: keepalives resume.
    assert {:ok, :scope_keepalive} = FakeReceiver.read(sock, 2_000)
  end

  defp read_terms(_sock, 0, acc), do: Enum.reverse(acc)

  defp read_terms(sock, events_left, acc) do
    {:ok, term} = FakeReceiver.read(sock, 2_000)
    read_terms(sock, if(match?({:telemetry, _, _, _, _}, term), do: events_left - 1, else: events_left), [term | acc])
  end

  test "keepalive_interval: :infinity sends none" do
    {lsock, port} = FakeReceiver.listen()
    attach(port, keepalive_interval: :infinity)
    {sock, _} = FakeReceiver.accept(lsock)
    assert {:error, :timeout} = FakeReceiver.read(sock, 300)
  end

  test "options are checked" do
    assert {:error, {:unknown_option, :hots}} = ScopeBeam.attach(hots: "x")
    assert {:error, {:invalid_option, :keepalive_interval, 0}} = ScopeBeam.attach(keepalive_interval: 0)
    assert {:error, {:invalid_option, :tls, [verify: :verify_none]}} = ScopeBeam.attach(tls: [verify: :verify_none])
    assert {:error, {:invalid_option, :tls, [certfile: "c.pem"]}} = ScopeBeam.attach(tls: [certfile: "c.pem"])
    assert {:error, {:invalid_option, :tls, [cacertfile: "ca.pem", certfile: "c.pem"]}} = ScopeBeam.attach(tls: [cacertfile: "ca.pem", certfile: "c.pem"])
    assert {:ok, %{tls: [cacertfile: "ca.pem"], keepalive_interval: 30_000}} = ScopeBeam.Forwarder.validate(tls: [cacertfile: "ca.pem"])
    assert {:error, {:invalid_option, :port, 0}} = ScopeBeam.attach(port: 0)
    assert {:error, {:invalid_option, :handlers, [:plug]}} = ScopeBeam.attach(handlers: [:plug])
    assert {:ok, cfg} = ScopeBeam.Forwarder.validate(ecto_repos: [Shop.Repo, MyApp.Accounts.Repo])
    assert cfg.ecto_prefixes == [[:shop, :repo], [:my_app, :accounts, :repo]]
  end

  test "one forwarder at a time" do
    {_lsock, port} = FakeReceiver.listen()
    pid = attach(port)
    assert {:error, {:already_started, ^pid}} = ScopeBeam.attach(port: port)
  end

  defp wait_until(fun, timeout \\ 5_000) do
    deadline = System.monotonic_time(:millisecond) + timeout

    Stream.repeatedly(fn ->
      if fun.(), do: :ok, else: (Process.sleep(10); System.monotonic_time(:millisecond) < deadline || flunk("timed out"))
    end)
    |> Enum.find(&(&1 == :ok))
  end
end
