defmodule ScopeBeam.Forwarder.Sampler do
  @moduledoc """
  The live process view: every `sample_interval` it sends metric points —

    * `beam.process.count`, `beam.port.count`, `beam.atom.count`,
      `beam.run_queue` (all run queues), `beam.memory{type}` (bytes, one
      point per `:erlang.memory/0` type), `beam.scheduler.utilization`
      (0..1, since the previous sample; from `:scheduler` in runtime_tools
      when it is there);
    * for the top `top_n` processes by message queue length, by memory and
      by reductions since the previous sample (the union of the three):
      `beam.process.message_queue_len`, `beam.process.memory` (bytes) and
      `beam.process.reductions` (since the previous sample), with
      `beam.pid`, `beam.registered_name`, `beam.current_function` and
      `beam.initial_call` (proc_lib's real one, as `observer` shows it);
    * the forwarder's own counters: `scope_beam.forwarder.sent`,
      `scope_beam.forwarder.dropped{reason}` (since attach) and
      `scope_beam.forwarder.queued`.

  Nodes with more than `max_processes` processes skip the per-process part
  (it walks every process) and say so once in the log.
  """

  use GenServer
  require Logger

  alias ScopeBeam.Forwarder.Queue

  def start_link(cfg), do: GenServer.start_link(__MODULE__, cfg)

  @impl true
  def init(cfg) do
    scheduler = Code.ensure_loaded?(:scheduler) and function_exported?(:scheduler, :sample_all, 0)
    state = %{cfg: cfg, reductions: %{}, scheduler: scheduler, last_sample: nil, warned: false}
    state = if scheduler, do: %{state | last_sample: :scheduler.sample_all()}, else: state
    Process.send_after(self(), :sample, cfg.sample_interval)
    {:ok, state}
  end

  @impl true
  def handle_info(:sample, state) do
    Process.send_after(self(), :sample, state.cfg.sample_interval)
    {points, state} = sample(state)
    Queue.offer(state.cfg.queue, {:scope_metrics, :erlang.system_time(:nanosecond), points})
    {:noreply, state}
  end

  def handle_info(_other, state), do: {:noreply, state}

  @doc false
  # One sample: `{[{name, type, unit, value, attributes}], state}`.
  def sample(state) do
    {sched, state} = scheduler_utilization(state)
    {top, state} = top_processes(state)
    {system() ++ sched ++ top ++ own(state.cfg.queue), state}
  end

  defp gauge(name, unit, value, attrs \\ %{}), do: {name, :gauge, unit, value, attrs}

  defp system do
    [
      gauge("beam.process.count", "{process}", :erlang.system_info(:process_count)),
      gauge("beam.port.count", "{port}", :erlang.system_info(:port_count)),
      gauge("beam.atom.count", "{atom}", :erlang.system_info(:atom_count)),
      gauge("beam.run_queue", "{process}", :erlang.statistics(:total_run_queue_lengths_all))
    ] ++ for({type, bytes} <- :erlang.memory(), do: gauge("beam.memory", "By", bytes, %{type: type}))
  end

  defp scheduler_utilization(%{scheduler: false} = state), do: {[], state}

  defp scheduler_utilization(state) do
    now = :scheduler.sample_all()

    points =
      for {:total, value, _} <- :scheduler.utilization(state.last_sample, now) do
        gauge("beam.scheduler.utilization", "1", value)
      end

    {points, %{state | last_sample: now}}
  rescue
    _ -> {[], %{state | scheduler: false}}
  end

  @info [:message_queue_len, :memory, :reductions]

  defp top_processes(state) do
    %{top_n: n, max_processes: limit} = state.cfg

    if :erlang.system_info(:process_count) > limit do
      unless state.warned,
        do: Logger.warning("scope_beam: more than #{limit} processes; the sampler sends totals only (max_processes)")

      {[], %{state | warned: true, reductions: %{}}}
    else
      # {pid, queue length, memory, reductions since the last sample, reductions in all}
      rows =
        for pid <- Process.list(), pid != self(), info = Process.info(pid, @info), info != nil do
          [message_queue_len: q, memory: m, reductions: r] = info
          {pid, q, m, r - Map.get(state.reductions, pid, r), r}
        end

      reductions = Map.new(rows, fn row -> {elem(row, 0), elem(row, 4)} end)

      chosen =
        [1, 2, 3]
        |> Enum.flat_map(fn i -> rows |> Enum.sort_by(&elem(&1, i), :desc) |> Enum.take(n) end)
        |> Enum.uniq_by(&elem(&1, 0))

      points =
        Enum.flat_map(chosen, fn {pid, q, m, r, _} ->
          case describe(pid) do
            nil ->
              []

            attrs ->
              [
                gauge("beam.process.message_queue_len", "{message}", q, attrs),
                gauge("beam.process.memory", "By", m, attrs),
                gauge("beam.process.reductions", "{reduction}", r, attrs)
              ]
          end
        end)

      {points, %{state | reductions: reductions}}
    end
  end

  defp describe(pid) do
    case Process.info(pid, [:registered_name, :current_function]) do
      nil ->
        nil

      [registered_name: name, current_function: current] ->
        %{:"beam.pid" => pid}
        |> put_if(:"beam.registered_name", if(is_atom(name) and name != [], do: name))
        |> put_if(:"beam.current_function", mfa(current))
        |> put_if(:"beam.initial_call", mfa(initial_call(pid)))
    end
  end

  defp initial_call(pid) do
    case :proc_lib.translate_initial_call(pid) do
      {:proc_lib, :init_p, 5} -> nil
      mfa -> mfa
    end
  rescue
    _ -> nil
  end

  defp mfa({m, f, a}) when is_atom(m) and is_atom(f) and is_integer(a), do: Exception.format_mfa(m, f, a)
  defp mfa(_), do: nil

  defp put_if(map, _k, nil), do: map
  defp put_if(map, _k, []), do: map
  defp put_if(map, k, v), do: Map.put(map, k, v)

  defp own(queue) do
    %{queued: queued, sent: sent, dropped: dropped} = Queue.stats(queue)

    [
      {"scope_beam.forwarder.sent", :sum, "{item}", sent, %{}},
      gauge("scope_beam.forwarder.queued", "{item}", queued)
      | for({reason, n} <- dropped, do: {"scope_beam.forwarder.dropped", :sum, "{item}", n, %{reason: reason}})
    ]
  end
end
