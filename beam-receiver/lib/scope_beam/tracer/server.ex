defmodule ScopeBeam.Tracer.Server do
  @moduledoc false
  # The tracer's monitor process: owns the IP trace port, writes clock-sync
  # frames, enforces max_duration and max_events_per_second, and removes every
  # trace flag and pattern when it stops for any reason (stop/0, a limit, the
  # port dying, or a crash — terminate/2 runs the same cleanup).
  #
  # It is started with GenServer.start/3 (no supervisor, no link to the
  # caller), registered under its module name so only one can run, and runs
  # at high priority so it can still stop tracing on an overloaded node.
  #
  # Rate measurement: the trace_ip driver exposes no message counter, so every
  # `rate_check_interval` ms we read `port_info(TracePort, :output)` — the
  # exact number of bytes the runtime has handed to the driver (every trace
  # message, whether the driver then queues, sends or drops it) — subtract the
  # bytes of our own clock frames, and divide by the size of the smallest
  # trace message this node can produce. That estimate never under-counts
  # (typical messages are 1.5–3× larger, so it over-counts and stops early,
  # never late). Events are summed over a sliding one-second window.

  use GenServer
  require Logger

  alias ScopeBeam.Tracer.{Backend, Snapshot, TracePort}

  @name __MODULE__

  def name, do: @name

  @doc false
  def start(cfg, caller) do
    case GenServer.start(__MODULE__, :ok, name: @name) do
      {:ok, pid} ->
        ref = Process.monitor(pid)

        result =
          try do
            GenServer.call(pid, {:setup, cfg, caller}, :infinity)
          catch
            :exit, reason -> {:error, {:setup_crashed, reason}}
          end

        case result do
          {:ok, info} ->
            Process.demonitor(ref, [:flush])
            {:ok, info}

          {:error, _} = error ->
            # The server stops itself after a failed setup; wait so that a
            # retry does not see :already_started.
            receive do
              {:DOWN, ^ref, :process, ^pid, _} -> :ok
            end

            error
        end

      {:error, {:already_started, _}} ->
        {:error, :already_started}

      {:error, reason} ->
        {:error, reason}
    end
  end

  # ------------------------------------------------------------------ server

  @impl true
  def init(:ok) do
    Process.flag(:trap_exit, true)
    Process.flag(:priority, :high)
    {:ok, :idle}
  end

  @impl true
  def handle_call({:setup, cfg, caller}, _from, :idle) do
    case setup(cfg, caller) do
      {:ok, state} -> {:reply, {:ok, info(state)}, state}
      {:error, reason} -> {:stop, :normal, {:error, reason}, :idle}
    end
  end

  def handle_call(:info, _from, state) when is_map(state) do
    {:reply, {:ok, info(state)}, state}
  end

  def handle_call(:info, _from, state), do: {:reply, {:error, :not_running}, state}

  @impl true
  def handle_info(:clock, %{cleaned: false} = state) do
    state = write_clock(state)
    {:noreply, %{state | clock_timer: schedule(state.cfg.clock_interval, :clock)}}
  end

  def handle_info(:rate_check, %{cleaned: false} = state) do
    state = sample_rate(state)
    max = state.cfg.max_events_per_second

    if state.window_events > max do
      auto_stop({:max_events_per_second, max, state.window_events}, state)
    else
      {:noreply, %{state | rate_timer: schedule(state.cfg.rate_check_interval, :rate_check)}}
    end
  end

  def handle_info(:max_duration, %{cleaned: false} = state) do
    auto_stop({:max_duration, state.cfg.max_duration}, state)
  end

  def handle_info({:EXIT, port, reason}, %{port: port, cleaned: false} = state) do
    auto_stop({:trace_port_closed, reason}, state)
  end

  def handle_info(_other, state), do: {:noreply, state}

  @impl true
  def terminate(_reason, state) do
    cleanup(state)
    :ok
  end

  # ------------------------------------------------------------------ setup

  defp setup(cfg, caller) do
    with {:ok, port} <- TracePort.open(cfg.port, cfg.queue_size),
         {:ok, listen_port} <- listen_port_or_close(port) do
      state = %{
        cfg: cfg,
        port: port,
        listen_port: listen_port,
        backend: Backend.kind(),
        handle: nil,
        cleaned: false,
        started_mono: System.monotonic_time(:millisecond),
        clock_timer: nil,
        rate_timer: nil,
        duration_timer: nil,
        own_bytes: 0,
        clock_frames: 0,
        last_output: 0,
        window: :queue.new(),
        window_events: 0,
        total_events: 0,
        min_event_bytes: min_event_bytes(port, cfg.timestamp)
      }

      # First frame on the wire: the clock pair, before any trace message.
      state = write_clock(state)

      # Never trace ourselves, the trace port, or the process that called
      # start/1 (unless it asked for that by naming its own pid).
      own = [self(), port | if(caller in cfg.targets, do: [], else: [caller])]

      case Backend.setup(state.backend, port, cfg, own) do
        {:ok, handle} ->
          # Who the processes alive now are: the pipeline never sees them spawn.
          if cfg.snapshot, do: Snapshot.write(port, own, caller)

          {:ok,
           %{
             state
             | handle: handle,
               last_output: TracePort.output_bytes(port) || 0,
               own_bytes: 0,
               clock_timer: schedule(cfg.clock_interval, :clock),
               rate_timer: schedule_rate(cfg),
               duration_timer: schedule(cfg.max_duration, :max_duration)
           }}

        {:error, reason} ->
          TracePort.close(port)
          {:error, reason}
      end
    end
  end

  defp listen_port_or_close(port) do
    case TracePort.listen_port(port) do
      {:ok, lp} ->
        {:ok, lp}

      error ->
        TracePort.close(port)
        error
    end
  end

  defp schedule(:infinity, _msg), do: nil
  defp schedule(ms, msg), do: :erlang.send_after(ms, self(), msg)

  defp schedule_rate(%{max_events_per_second: :infinity}), do: nil
  defp schedule_rate(cfg), do: schedule(cfg.rate_check_interval, :rate_check)

  # The smallest trace message this node can emit with the chosen timestamp:
  # {trace_ts, PidOrPort, in, 0, Ts}. Used to turn bytes into an event bound.
  defp min_event_bytes(port, ts_flag) do
    ts =
      case ts_flag do
        :timestamp -> :os.timestamp()
        :monotonic_timestamp -> :erlang.monotonic_time(:nanosecond)
        :strict_monotonic_timestamp -> {:erlang.monotonic_time(:nanosecond), 1}
      end

    [self(), port]
    |> Enum.map(&byte_size(:erlang.term_to_binary({:trace_ts, &1, :in, 0, ts})))
    |> Enum.min()
  end

  # --------------------------------------------------------------- running

  defp write_clock(state) do
    term =
      {:scope_clock, node(), :erlang.monotonic_time(:nanosecond),
       :erlang.system_time(:nanosecond)}

    case TracePort.write_term(state.port, term) do
      {:ok, n} -> %{state | own_bytes: state.own_bytes + n, clock_frames: state.clock_frames + 1}
      {:error, _} -> state
    end
  end

  defp sample_rate(state) do
    case TracePort.output_bytes(state.port) do
      nil ->
        state

      output ->
        bytes = max(output - state.last_output - state.own_bytes, 0)
        events = div(bytes + state.min_event_bytes - 1, state.min_event_bytes)
        slots = max(div(1_000, state.cfg.rate_check_interval), 1)
        window = :queue.in(events, state.window)

        {window, dropped} =
          if :queue.len(window) > slots do
            {{:value, old}, w} = :queue.out(window)
            {w, old}
          else
            {window, 0}
          end

        %{
          state
          | last_output: output,
            own_bytes: 0,
            window: window,
            window_events: state.window_events + events - dropped,
            total_events: state.total_events + events
        }
    end
  end

  defp auto_stop(reason, state) do
    state = cleanup(state)
    Logger.warning("ScopeBeam.Tracer stopped automatically: " <> describe(reason))
    {:stop, {:shutdown, reason}, state}
  end

  defp describe({:max_duration, ms}), do: "max_duration of #{ms} ms reached"

  defp describe({:max_events_per_second, max, seen}),
    do: "max_events_per_second #{max} exceeded (about #{seen} events in the last second)"

  defp describe({:trace_port_closed, reason}), do: "the trace port closed (#{inspect(reason)})"

  # Idempotent; runs from stop/0 (via terminate/2), the limits, and crashes.
  defp cleanup(%{cleaned: false} = state) do
    Enum.each([state.clock_timer, state.rate_timer, state.duration_timer], fn
      nil -> :ok
      t -> :erlang.cancel_timer(t)
    end)

    if state.handle, do: Backend.teardown(state.handle)
    TracePort.close(state.port)
    %{state | cleaned: true, clock_timer: nil, rate_timer: nil, duration_timer: nil}
  end

  defp cleanup(state), do: state

  defp info(state) do
    %{
      port: state.listen_port,
      pid: self(),
      node: node(),
      backend: state.backend,
      session: state.handle && state.handle.session,
      trace_port: state.port,
      targets: state.cfg.targets,
      flags: state.cfg.flags,
      timestamp: state.cfg.timestamp,
      calls: Enum.map(state.cfg.patterns, &elem(&1, 0)),
      max_events_per_second: state.cfg.max_events_per_second,
      max_duration: state.cfg.max_duration,
      running_ms: System.monotonic_time(:millisecond) - state.started_mono,
      estimated_events: state.total_events,
      clock_frames: state.clock_frames
    }
  end
end
