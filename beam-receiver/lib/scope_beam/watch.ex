defmodule ScopeBeam.Watch do
  @moduledoc """
  GenServer state history: `watch/2` installs a `:sys` debug function in a
  running GenServer that reports, for every message it handles, the message
  and the state before and after — the `state.change` events (schema v1)
  that time-travel debugging replays.

      {:ok, _pid} = ScopeBeam.watch(MyApp.Cart)      # reports via the forwarder
      ScopeBeam.unwatch(MyApp.Cart)

  How: the process is suspended (`:sys.suspend/1`) while its current state is
  read and the debug function installed, so the first report's old state is
  exact; then resumed. The function runs inside the watched process after
  each `handle_call`/`handle_cast`/`handle_info`/`handle_continue` and sends
  one term — it does not wait for anything. It removes itself on
  `unwatch/1`, when the forwarder it reports to stops, and dies with the
  process (a monitor forgets it then). If it ever raised, `:sys` would
  deactivate it, never crash the GenServer.

  Each report (`{:scope_state_change, SystemTimeNs, Pid, Attributes}`) holds:
  `beam.module`, `beam.registered_name`, `kind` (`call`, `cast`, `info`, or
  `continue` for a state change with no message), `beam.message` (the
  request, rendered), `beam.from` (the caller, for calls), `beam.reply`,
  `old_state` and `new_state` (rendered, cut at `max_state_bytes`),
  `old_digest` / `new_digest` (`:erlang.phash2/1` of the full states),
  `changed`, and for map or struct states `changed_keys` and `diff`
  (`%{key => %{old: …, new: …}}`, at most `max_diff_keys` keys), and `seq`
  (1, 2, … since `watch/2`).
  """

  use GenServer

  alias ScopeBeam.Forwarder.Queue

  @name __MODULE__
  # How long a GenServer may take to answer a system message before watch/2 gives up.
  @sys_timeout 2_000
  @defaults [to: :forwarder, max_state_bytes: 4096, max_message_bytes: 1024, max_diff_keys: 32]

  @doc """
  Starts reporting state changes of a GenServer (pid or registered name).

  Options: `to:` (`:forwarder`, the running `ScopeBeam.attach/1` forwarder;
  or a pid, which then receives `{:scope_beam, term}` messages — handy in
  IEx and tests), `max_state_bytes:` (4096), `max_message_bytes:` (1024),
  `max_diff_keys:` (32).

  `{:ok, pid}`, or `{:error, reason}`: `:not_attached` (no forwarder and no
  `to:` pid), `:noproc`, `:already_watched`, `{:not_a_gen_server, reason}`,
  `{:unknown_option, key}`.
  """
  @spec watch(pid() | atom() | {:global, term()} | {:via, module(), term()}, keyword()) ::
          {:ok, pid()} | {:error, term()}
  def watch(target, opts \\ []) do
    with {:ok, cfg} <- options(opts),
         :ok <- sink_ready(cfg.to),
         {:ok, pid} <- resolve(target) do
      GenServer.call(registry(), {:watch, pid, cfg}, 15_000)
    end
  end

  @doc "Stops reporting (removes the debug function). `:ok`, also when it was not watched or has exited."
  @spec unwatch(pid() | atom()) :: :ok
  def unwatch(target) do
    case {resolve(target), Process.whereis(@name)} do
      {{:ok, pid}, reg} when is_pid(reg) -> GenServer.call(reg, {:unwatch, pid}, 15_000)
      _ -> :ok
    end
  end

  @doc "The pids being watched now."
  @spec watching() :: [pid()]
  def watching do
    case Process.whereis(@name) do
      nil -> []
      reg -> GenServer.call(reg, :watching)
    end
  end

  @doc false
  def unwatch_forwarded do
    case Process.whereis(@name) do
      nil -> :ok
      reg -> GenServer.call(reg, :unwatch_forwarded, 15_000)
    end
  catch
    :exit, _ -> :ok
  end

  defp options(opts) do
    case Keyword.keys(opts) -- Keyword.keys(@defaults) do
      [] -> {:ok, Map.new(Keyword.merge(@defaults, opts))}
      [key | _] -> {:error, {:unknown_option, key}}
    end
  end

  defp sink_ready(:forwarder), do: if(ScopeBeam.Forwarder.queue(), do: :ok, else: {:error, :not_attached})
  defp sink_ready(pid) when is_pid(pid), do: :ok
  defp sink_ready(other), do: {:error, {:invalid_option, :to, other}}

  defp resolve(pid) when is_pid(pid), do: if(Process.alive?(pid), do: {:ok, pid}, else: {:error, :noproc})

  defp resolve(name) do
    case GenServer.whereis(name) do
      pid when is_pid(pid) -> {:ok, pid}
      _ -> {:error, :noproc}
    end
  end

  # The registry: started on first use, not linked to anyone.
  defp registry do
    case GenServer.start(__MODULE__, nil, name: @name) do
      {:ok, pid} -> pid
      {:error, {:already_started, pid}} -> pid
    end
  end

  # --- the registry ------------------------------------------------------------

  @impl true
  def init(nil), do: {:ok, %{}}

  @impl true
  def handle_call({:watch, pid, _cfg}, _from, watches) when is_map_key(watches, pid) do
    {:reply, {:error, :already_watched}, watches}
  end

  def handle_call({:watch, pid, cfg}, _from, watches) do
    case install(pid, cfg) do
      {:ok, fun} ->
        ref = Process.monitor(pid)
        {:reply, {:ok, pid}, Map.put(watches, pid, %{fun: fun, ref: ref, to: cfg.to})}

      error ->
        {:reply, error, watches}
    end
  end

  def handle_call({:unwatch, pid}, _from, watches) do
    {:reply, :ok, remove(pid, watches)}
  end

  def handle_call(:watching, _from, watches), do: {:reply, Map.keys(watches), watches}

  def handle_call(:unwatch_forwarded, _from, watches) do
    forwarded = for {pid, %{to: :forwarder}} <- watches, do: pid
    {:reply, :ok, Enum.reduce(forwarded, watches, &remove/2)}
  end

  @impl true
  def handle_info({:DOWN, _ref, :process, pid, _reason}, watches), do: {:noreply, Map.delete(watches, pid)}
  def handle_info(_other, watches), do: {:noreply, watches}

  defp remove(pid, watches) do
    case Map.pop(watches, pid) do
      {nil, watches} ->
        watches

      {%{fun: fun, ref: ref}, watches} ->
        Process.demonitor(ref, [:flush])

        try do
          :sys.remove(pid, fun, 5_000)
        catch
          :exit, _ -> :ok
        end

        watches
    end
  end

  defp install(pid, cfg) do
    # Suspended, the process handles only system messages: the state read
    # here is exactly the one the first reported message starts from.
    try do
      :ok = :sys.suspend(pid, @sys_timeout)
      state = :sys.get_state(pid, @sys_timeout)
      {module, name} = identity(pid)
      fun = &__MODULE__.debug_event/3

      fstate = %{
        old: state,
        old_rendered: render(state, cfg.max_state_bytes),
        pending: nil,
        seq: 0,
        pid: pid,
        module: module,
        name: name,
        cfg: cfg
      }

      :ok = :sys.install(pid, {fun, fstate}, @sys_timeout)
      {:ok, fun}
    catch
      :exit, reason -> {:error, {:not_a_gen_server, reason}}
    after
      # Also after a timed-out suspend: the resume is queued behind it.
      try do
        :sys.resume(pid, @sys_timeout)
      catch
        :exit, _ -> :ok
      end
    end
  end

  defp identity(pid) do
    module =
      case Process.info(pid, :dictionary) do
        {:dictionary, dict} ->
          case List.keyfind(dict, :"$initial_call", 0) do
            {_, {m, _f, _a}} -> m
            _ -> nil
          end

        nil ->
          nil
      end

    name =
      case Process.info(pid, :registered_name) do
        {:registered_name, n} when is_atom(n) -> n
        _ -> nil
      end

    {module, name}
  end

  # --- inside the watched process ------------------------------------------------

  @doc false
  # The :sys debug function: (FuncState, Event, ProcName) -> FuncState | :done.
  # gen_server reports {:in, Msg} on receipt, then {:out, Reply, To, State}
  # (a reply) or {:noreply, State}.
  def debug_event(fs, {:in, msg}, _name), do: %{fs | pending: msg}
  def debug_event(fs, {:in, msg, _from}, _name), do: %{fs | pending: msg}
  def debug_event(fs, {:noreply, new}, _name), do: report(fs, new, :none)
  def debug_event(fs, {:out, reply, _to, new}, _name), do: report(fs, new, {:reply, reply})
  def debug_event(fs, _event, _name), do: fs

  defp report(fs, new, reply) do
    case sink(fs.cfg.to) do
      nil ->
        # The forwarder it reported to is gone: remove ourselves.
        :done

      sink ->
        # The time the callback returned, taken before rendering: the first render can load Inspect
        # implementations from disk, which takes milliseconds (the reply is already sent by then).
        now = :erlang.system_time(:nanosecond)
        seq = fs.seq + 1
        new_rendered = render(new, fs.cfg.max_state_bytes)
        attrs = attributes(fs, new, new_rendered, reply, seq)
        deliver(sink, {:scope_state_change, now, fs.pid, attrs})
        %{fs | old: new, old_rendered: new_rendered, pending: nil, seq: seq}
    end
  end

  defp sink(:forwarder), do: ScopeBeam.Forwarder.queue()
  defp sink(pid) when is_pid(pid), do: pid

  defp deliver(pid, term) when is_pid(pid), do: send(pid, {:scope_beam, term})
  defp deliver(queue, term), do: Queue.offer(queue, term)

  defp attributes(fs, new, new_rendered, reply, seq) do
    %{max_message_bytes: max_msg} = fs.cfg
    {kind, message, from} = classify(fs.pending)
    old_digest = :erlang.phash2(fs.old)
    new_digest = :erlang.phash2(new)

    %{
      kind: kind,
      seq: seq,
      old_state: fs.old_rendered,
      new_state: new_rendered,
      old_digest: old_digest,
      new_digest: new_digest,
      changed: fs.old !== new
    }
    |> put(:"beam.module", fs.module)
    |> put(:"beam.registered_name", fs.name)
    |> put(:"beam.message", if(kind != :continue, do: render(message, max_msg)))
    |> put(:"beam.from", from)
    |> put(:"beam.reply", reply_text(reply, max_msg))
    |> Map.merge(diff(fs.old, new, fs.cfg))
  end

  defp reply_text({:reply, r}, max), do: render(r, max)
  defp reply_text(:none, _max), do: nil

  defp classify({:"$gen_call", {from, _tag}, request}) when is_pid(from), do: {:call, request, from}
  defp classify({:"$gen_call", _from, request}), do: {:call, request, nil}
  defp classify({:"$gen_cast", request}), do: {:cast, request, nil}
  defp classify(nil), do: {:continue, nil, nil}
  defp classify(info), do: {:info, info, nil}

  # Top-level keys of map (and struct) states whose values differ.
  defp diff(old, new, cfg) when is_map(old) and is_map(new) do
    keys = Enum.uniq(Map.keys(old) ++ Map.keys(new))
    changed = for k <- keys, k != :__struct__, Map.get(old, k, :"$absent") !== Map.get(new, k, :"$absent"), do: k
    shown = Enum.take(changed, cfg.max_diff_keys)
    per_key = max(div(cfg.max_state_bytes, max(length(shown), 1) * 2), 64)

    %{
      changed_keys: Enum.map(changed, &key/1),
      diff:
        Map.new(shown, fn k ->
          {key(k), %{old: side(old, k, per_key), new: side(new, k, per_key)}}
        end)
    }
  end

  defp diff(_old, _new, _cfg), do: %{}

  defp side(map, k, max) do
    case Map.fetch(map, k) do
      {:ok, v} -> render(v, max)
      :error -> nil
    end
  end

  defp key(k) when is_atom(k), do: Atom.to_string(k)
  defp key(k) when is_binary(k), do: k
  defp key(k), do: inspect(k, limit: 10)

  defp put(map, _k, nil), do: map
  defp put(map, k, v), do: Map.put(map, k, v)

  @doc false
  # Rendered the Elixir way, bounded while rendering (limit) and after (bytes).
  def render(term, max_bytes) do
    ScopeBeam.Forwarder.Handlers.cap(inspect(term, limit: 100, printable_limit: max_bytes, structs: true), max_bytes)
  end
end
