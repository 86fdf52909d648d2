defmodule ScopeBeam.Tracer do
  @moduledoc """
  A safe front end for OTP's IP trace port, in the manner of `recon_trace`
  and `redbug`, feeding scope-pipeline's `beam_trace_port` receiver.

      {:ok, %{port: 4711}} =
        ScopeBeam.Tracer.start(port: 4711, processes: :all, flags: [:send, :receive, :procs])
      # ... scope-pipeline connects to 127.0.0.1:4711 and reads the frames ...
      :ok = ScopeBeam.Tracer.stop()

  What it does on `start/1`:

    * opens the `trace_ip` driver port exactly as `dbg:trace_port(ip, {Port, QueueSize})`
      does (the node listens, one TCP client reads `<<0, Size::32, TermBinary>>`
      frames, or `<<1, Dropped::32>>` when the driver had to drop);
    * writes a clock-sync frame `{:scope_clock, node(), MonotonicNs, SystemNs}`
      into the same port, first, and then every `clock_interval` ms;
    * writes a snapshot of the processes alive at start (`:snapshot`);
    * sets the call patterns and trace flags, with the port as tracer — in a
      private trace session on OTP 27+ (`trace:session_create/3`), with
      `:erlang.trace/3` / `:erlang.trace_pattern/3` on OTP 25/26;
    * never traces its own monitor process, the trace port, or the calling
      process (unless that pid is named in `processes:`).

  Safety: one tracer at a time; `max_duration` and `max_events_per_second`
  stop tracing on their own (with a `Logger` warning); patterns that would
  trace whole hot modules are refused with `{:error, {:dangerous_pattern, mfa}}`;
  `stop/0` (and every automatic stop) removes exactly the flags and patterns
  that were set and closes the port.

  See the README for every option and its default.
  """

  alias ScopeBeam.Tracer.{Backend, Options, Server}

  @type target :: :all | :new | :existing | pid() | port() | atom()
  @type pattern ::
          {module(), atom(), non_neg_integer() | :_}
          | {module(), atom(), non_neg_integer() | :_, :ets.match_spec()}

  @doc """
  Starts tracing. Returns `{:ok, info}` where `info.port` is the TCP port the
  node listens on (the real one when `port: 0` was given), or `{:error, reason}`.

  Options (defaults in parentheses):

    * `:port` (4711) — TCP listen port of the trace port; 0 picks a free one.
    * `:queue_size` (50_000) — messages the driver queues before dropping.
    * `:processes` (`:all`) — `:all`, `:new`, `:existing`, a pid, a port, a
      registered name, or a list of those.
    * `:flags` (`[:send, :receive, :procs]`) — trace flags; `:call` is added
      when `:calls` is not empty. Known: #{inspect(Options.known_flags())}.
    * `:calls` (`[]`) — call patterns `{M, F, A}`, `{M, F, :_}`, `{M, :_, :_}`,
      or `{M, F, A, match_spec}` with your own match spec.
    * `:return_trace` (false) — add `{:return_trace}` to every call pattern.
    * `:exception_trace` (false) — add `{:exception_trace}` (which also gives
      `return_from` messages).
    * `:call_scope` (`:local`) — `:local` (all calls) or `:global` (external calls only).
    * `:timestamp` (`:timestamp`) — `:timestamp`, `:monotonic_timestamp` or
      `:strict_monotonic_timestamp`.
    * `:max_events_per_second` (100_000) — or `:infinity`.
    * `:max_duration` (60_000 ms) — or `:infinity`.
    * `:clock_interval` (1_000 ms) — or `:infinity` (only the first frame).
    * `:rate_check_interval` (100 ms) — how often the event rate is sampled.
    * `:snapshot` (true) — write `{:scope_snapshot, node(), SystemNs, entries}`
      frames at start: every process alive now, with its registered name, the
      initial call proc_lib reports, `$ancestors`, links, current function,
      queue length, trap_exit and role (`:shell`, `:tracer`), so the pipeline
      knows processes it never saw spawn (`process.snapshot` events).
  """
  @spec start(keyword()) :: {:ok, map()} | {:error, term()}
  def start(opts \\ []) do
    if running?() do
      {:error, :already_started}
    else
      with {:ok, cfg} <- Options.validate(opts) do
        Server.start(cfg, self())
      end
    end
  end

  @doc """
  Stops tracing: removes every trace flag and call pattern this tracer set,
  stops the clock and the monitor and closes the port. Returns `:ok`, also
  when nothing was running.
  """
  @spec stop() :: :ok
  def stop do
    case Process.whereis(Server.name()) do
      nil ->
        :ok

      pid ->
        try do
          GenServer.stop(pid, :normal, :infinity)
        catch
          # Already gone, or stopping on its own (a limit was hit).
          :exit, _ -> :ok
        end

        :ok
    end
  end

  @doc "True while a tracer started by `start/1` is running."
  @spec running?() :: boolean()
  def running?, do: Process.whereis(Server.name()) != nil

  @doc "`{:ok, info}` about the running tracer, or `{:error, :not_running}`."
  @spec info() :: {:ok, map()} | {:error, :not_running}
  def info do
    GenServer.call(Server.name(), :info)
  catch
    :exit, _ -> {:error, :not_running}
  end

  @doc "`:session` (OTP 27+ trace sessions) or `:classic` (`:erlang.trace/3`)."
  @spec backend() :: :session | :classic
  def backend, do: Backend.kind()

  @doc """
  The one-line `dbg` equivalent for plain Erlang users (no ScopeBeam code in
  the node; none of its safety limits either):

      iex> ScopeBeam.Tracer.dbg_one_liner(4711)
      "dbg:tracer(port, dbg:trace_port(ip, {4711, 50000})), dbg:p(existing, [send, 'receive', procs, call, set_on_spawn, timestamp]), [erlang:trace(P, false, [all]) || P <- [self(), element(2, process_info(self(), parent)), whereis(dbg)]]."

  It traces the processes running now and, through `set_on_spawn`, what they
  start later; then takes the trace off the process that evaluates it, its
  shell and dbg itself (a shell's evaluators and readers would otherwise show
  up as crashes). Add `dbg:tpl(Module, x).` per module whose calls you want.
  """
  @spec dbg_one_liner(0..65_535, pos_integer()) :: String.t()
  def dbg_one_liner(port \\ 4711, queue_size \\ 50_000)
      when is_integer(port) and is_integer(queue_size) do
    "dbg:tracer(port, dbg:trace_port(ip, {#{port}, #{queue_size}})), " <>
      "dbg:p(existing, [send, 'receive', procs, call, set_on_spawn, timestamp]), " <>
      "[erlang:trace(P, false, [all]) || P <- [self(), element(2, process_info(self(), parent)), whereis(dbg)]]."
  end
end
