# A small Elixir OTP application whose GenServer chain A → B → C crashes on a
# poison message, traced by ScopeBeam.Tracer (beam-receiver/) through the IP
# trace port; test/beam/crash_chain.ts drives it. No hex deps: Elixir 1.14 and
# ScopeBeam's ebin on the code path (elixir --sname N -pa <ebin> crash_chain.exs).
#
# The application :crash_chain (CrashChain.Application) starts CrashChain.Sup
# (one_for_one) with three registered GenServers:
#   CrashChain.A  front: {:order, id, items} and {:discount, id, code, pct} → calls B
#   CrashChain.B  pricing: calls C for totals, casts C to record them and to apply discounts
#   CrashChain.C  ledger: handle_cast({:apply_discount, code, pct}) only for pct >= 0, so the
#                 poison {:apply_discount, "SUMMER", -5} (a cast from B) raises FunctionClauseError
# The application is started before the tracer (attaching to a running system);
# the workload runs in a client process spawned after the attach. Environment:
#   CRASH_CHAIN_TRACE_PORT      the trace port (default 0: any free one, printed)
#   CRASH_CHAIN_TELEMETRY_PORT  when set, ScopeBeam.attach(port: …) to a beam_telemetry receiver there,
#                               and ScopeBeam.watch/1 on C (then on the restarted C): state.change events
#
# Protocol on stdout (one line each; other output, such as Logger's crash report, may interleave):
#   pids <json>              {"node","sup","a","b","c","client"} before the crash (pid_to_list form)
#   port <P>                 the trace port listens on P; the test connects, then writes "go\n"
#   restarted <json>         {"c_new"} once the supervisor restarted C
#   result <json>            {"orders_before","discount","orders_after"}: what the client got back
#   forwarder <json>         {"sent","dropped"} (with CRASH_CHAIN_TELEMETRY_PORT) once its queue is empty
#   done                     the workload finished; "stop\n" stops the tracer and the node
defmodule CrashChain.Application do
  use Application

  @impl true
  def start(_type, _args), do: CrashChain.Sup.start_link([])
end

defmodule CrashChain.Sup do
  use Supervisor

  def start_link(arg), do: Supervisor.start_link(__MODULE__, arg, name: __MODULE__)

  @impl true
  def init(_arg) do
    # C first: B and A only name it when they work.
    Supervisor.init([CrashChain.C, CrashChain.B, CrashChain.A], strategy: :one_for_one, max_restarts: 5, max_seconds: 10)
  end
end

defmodule CrashChain.A do
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, :ok, name: __MODULE__)
  def order(id, items), do: GenServer.call(__MODULE__, {:order, id, items})
  def discount(id, code, pct), do: GenServer.call(__MODULE__, {:discount, id, code, pct})

  @impl true
  def init(:ok), do: {:ok, %{served: 0}}

  @impl true
  def handle_call({:order, id, items}, _from, state) do
    reply = GenServer.call(CrashChain.B, {:price, id, items})
    {:reply, reply, %{state | served: state.served + 1}}
  end

  def handle_call({:discount, id, code, pct}, _from, state) do
    reply = GenServer.call(CrashChain.B, {:discount, id, code, pct})
    {:reply, reply, %{state | served: state.served + 1}}
  end
end

defmodule CrashChain.B do
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, :ok, name: __MODULE__)

  @impl true
  def init(:ok), do: {:ok, %{priced: 0}}

  @impl true
  def handle_call({:price, id, items}, _from, state) do
    total = GenServer.call(CrashChain.C, {:total, items})
    GenServer.cast(CrashChain.C, {:record, id, total})
    {:reply, {:ok, id, total}, %{state | priced: state.priced + 1}}
  end

  def handle_call({:discount, id, code, pct}, _from, state) do
    # Passed on unchecked: C has no clause for a negative percentage.
    GenServer.cast(CrashChain.C, {:apply_discount, code, pct})
    {:reply, {:ok, id, :discount_sent}, state}
  end
end

defmodule CrashChain.C do
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, :ok, name: __MODULE__)

  @impl true
  def init(:ok), do: {:ok, %{ledger: [], discounts: []}}

  @impl true
  def handle_call({:total, items}, _from, state) do
    {:reply, Enum.reduce(items, 0, fn {_sku, qty, cents}, acc -> acc + qty * cents end), state}
  end

  @impl true
  def handle_cast({:record, id, total}, state), do: {:noreply, %{state | ledger: [{id, total} | state.ledger]}}

  def handle_cast({:apply_discount, code, pct}, state) when is_binary(code) and pct >= 0 and pct <= 100,
    do: {:noreply, %{state | discounts: [{code, pct} | state.discounts]}}
end

defmodule CrashChain.Workload do
  # The script's body as a function (OTP 25's compiler fails on some receives in top-level script code).
  def main do
    modules = [CrashChain.Application, CrashChain.Sup, CrashChain.A, CrashChain.B, CrashChain.C]

    :ok =
      :application.load(
        {:application, :crash_chain,
         [
           description: ~c"scope-pipeline test app: a GenServer chain with a poison message",
           vsn: ~c"0.1.0",
           modules: modules,
           registered: [CrashChain.Sup, CrashChain.A, CrashChain.B, CrashChain.C],
           applications: [:kernel, :stdlib, :elixir, :logger],
           mod: {CrashChain.Application, []}
         ]}
      )

    {:ok, _} = Application.ensure_all_started(:crash_chain)

    # With CRASH_CHAIN_TELEMETRY_PORT: ScopeBeam.attach/1 forwards to a beam_telemetry receiver there
    # (no :telemetry in this node: only the sampler and watch/2), and C's state changes are watched.
    telemetry_port =
      case System.get_env("CRASH_CHAIN_TELEMETRY_PORT", "") do
        "" -> nil
        p -> String.to_integer(p)
      end

    if telemetry_port do
      {:ok, _} = ScopeBeam.attach(port: telemetry_port, app: :crash_chain, backoff_min: 50, backoff_max: 200)
    end

    sup = Process.whereis(CrashChain.Sup)
    a = Process.whereis(CrashChain.A)
    b = Process.whereis(CrashChain.B)
    c = Process.whereis(CrashChain.C)

    main = self()

    client =
      spawn(fn ->
        receive do
          :go -> :ok
        end

        before =
          for n <- 1..3 do
            CrashChain.A.order("order-#{n}", [{"sku-#{n}", n, 250}, {"gift-wrap", 1, 99}])
          end

        send(main, {:before, before})
        discount = CrashChain.A.discount("order-4", "SUMMER", -5)
        send(main, {:discount, discount})

        receive do
          :again -> :ok
        end

        send(main, {:after, CrashChain.A.order("order-5", [{"sku-5", 2, 1000}])})
      end)

    traced = [CrashChain.A, CrashChain.B, CrashChain.C]

    {:ok, info} =
      ScopeBeam.Tracer.start(
        port: String.to_integer(System.get_env("CRASH_CHAIN_TRACE_PORT", "0")),
        processes: :all,
        flags: [:send, :receive, :procs],
        calls: for(m <- traced, do: {m, :_, :_}),
        exception_trace: true,
        timestamp: :monotonic_timestamp,
        max_duration: 60_000,
        max_events_per_second: :infinity
      )

    out("pids " <> json([node: node(), sup: pid_text(sup), a: pid_text(a), b: pid_text(b), c: pid_text(c), client: pid_text(client)]))

    out("port #{info.port}")
    "go\n" = IO.gets("")

    if telemetry_port do
      wait!(fn -> ScopeBeam.stats().connected == true end, "the forwarder to connect")
      {:ok, _} = ScopeBeam.watch(CrashChain.C)
    end

    ref = Process.monitor(c)
    send(client, :go)

    orders_before =
      receive do
        {:before, r} -> r
      after
        10_000 -> raise "no replies to the first orders"
      end

    discount =
      receive do
        {:discount, r} -> r
      after
        10_000 -> raise "no reply to the discount"
      end

    receive do
      {:DOWN, ^ref, :process, ^c, _reason} -> :ok
    after
      10_000 -> raise "C did not crash"
    end

    c_new =
      Enum.find_value(1..500, fn _ ->
        case Process.whereis(CrashChain.C) do
          pid when is_pid(pid) and pid != c -> pid
          _ -> Process.sleep(10) && nil
        end
      end) || raise "C was not restarted"

    out("restarted " <> json(c_new: pid_text(c_new)))
    if telemetry_port, do: {:ok, _} = ScopeBeam.watch(c_new)
    send(client, :again)

    orders_after =
      receive do
        {:after, r} -> r
      after
        10_000 -> raise "no reply to the order after the restart"
      end

    out("result " <> json(orders_before: inspect(orders_before), discount: inspect(discount), orders_after: inspect(orders_after)))
    if telemetry_port do
      wait!(fn -> ScopeBeam.stats().queued == 0 end, "the forwarder to send what it queued")
      stats = ScopeBeam.stats()
      out("forwarder " <> json(sent: stats.sent, dropped: Enum.sum(Map.values(stats.dropped))))
    end

    # The trace port delivers asynchronously: let the last frames out before the test stops listening.
    Process.sleep(300)
    out("done")
    "stop\n" = IO.gets("")
    :ok = ScopeBeam.Tracer.stop()
  end

  defp wait!(check, what, tries \\ 500) do
    cond do
      check.() -> :ok
      tries == 0 -> raise "timed out waiting for #{what}"
      true -> Process.sleep(10) && wait!(check, what, tries - 1)
    end
  end

  defp pid_text(pid), do: List.to_string(:erlang.pid_to_list(pid))
  defp out(line), do: IO.puts(line)
  defp escape(v), do: v |> to_string() |> String.replace("\\", "\\\\") |> String.replace("\"", "\\\"")
  defp json(pairs), do: "{" <> Enum.map_join(pairs, ",", fn {k, v} -> ~s("#{k}":"#{escape(v)}") end) <> "}"
end

CrashChain.Workload.main()
