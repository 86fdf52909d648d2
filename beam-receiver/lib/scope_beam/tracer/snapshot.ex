defmodule ScopeBeam.Tracer.Snapshot do
  @moduledoc false
  # The processes alive when tracing starts, written into the trace port as
  # `{:scope_snapshot, node(), SystemNs, [entry]}` frames (at most @chunk
  # entries each), so the pipeline knows who a process is even though it
  # never saw it spawn: registered name, the initial call proc_lib reports,
  # `$ancestors`, links, current function, queue length, trap_exit, and the
  # role of infrastructure processes (the shell's, the tracer's).
  #
  # Only `$initial_call` and `$ancestors` are read from a process dictionary,
  # never the rest of it (it can hold anything, secrets included).

  alias ScopeBeam.Tracer.TracePort

  @chunk 200
  @info [:registered_name, :initial_call, :current_function, :links, :message_queue_len, :trap_exit, :status, :dictionary, :group_leader]
  @shell_modules [:shell, :group, :user_drv, :user, :user_sup, :prim_tty, :edlin, :edlin_expand,
                  IEx.Server, IEx.Evaluator, IEx.Broker]
  @behaviours %{gen_server: :gen_server, gen_statem: :gen_statem, gen_event: :gen_event}

  @doc "Writes the snapshot frames; returns the bytes written. `own` are the tracer's processes, `caller` the process that started it."
  def write(port, own, caller) do
    now = :erlang.system_time(:nanosecond)
    shell_gl = shell_group_leader(caller)

    Process.list()
    |> Enum.flat_map(&entry(&1, own, caller, shell_gl))
    |> Enum.chunk_every(@chunk)
    |> Enum.reduce(0, fn chunk, bytes ->
      case TracePort.write_term(port, {:scope_snapshot, node(), now, chunk}) do
        {:ok, n} -> bytes + n
        {:error, _} -> bytes
      end
    end)
  end

  defp entry(pid, own, caller, shell_gl) do
    case Process.info(pid, @info) do
      nil ->
        []

      info ->
        dict = Keyword.get(info, :dictionary, [])
        initial = initial_call(dict, info[:initial_call])
        current = info[:current_function]
        {behaviour, callback} = behaviour(initial, current)

        [
          %{
            pid: pid,
            registered_name: name(info[:registered_name]),
            initial_call: initial,
            proc_lib: List.keymember?(dict, :"$initial_call", 0),
            behaviour: behaviour,
            callback_module: callback,
            ancestors: Keyword.get(dict, :"$ancestors", []),
            links: info[:links] || [],
            current_function: current,
            message_queue_len: info[:message_queue_len],
            trap_exit: info[:trap_exit],
            status: info[:status],
            role: role(pid, own, caller, shell_gl, initial, current, info[:registered_name])
          }
        ]
    end
  end

  defp name([]), do: nil
  defp name(name), do: name

  # proc_lib's own translation: {Mod, init, 1} for gen processes, {supervisor, Mod, 1} for supervisors.
  defp initial_call(dict, raw) do
    case List.keyfind(dict, :"$initial_call", 0) do
      {_, {m, f, a}} when is_atom(m) and is_atom(f) and is_integer(a) -> {m, f, a}
      _ -> raw
    end
  end

  defp behaviour({:supervisor, mod, 1}, _current), do: {:supervisor, mod}
  defp behaviour({:supervisor_bridge, mod, 1}, _current), do: {:supervisor_bridge, mod}

  defp behaviour({mod, :init, 1}, {gen, _, _}) when is_map_key(@behaviours, gen),
    do: {Map.fetch!(@behaviours, gen), mod}

  defp behaviour(_initial, {gen, _, _}) when is_map_key(@behaviours, gen), do: {Map.fetch!(@behaviours, gen), nil}
  defp behaviour(_initial, _current), do: {nil, nil}

  defp role(pid, own, caller, shell_gl, initial, current, registered) do
    cond do
      pid in own -> :tracer
      pid == caller and shell_module?(current) -> :shell
      shell_module?(initial) or shell_module?(current) -> :shell
      registered in [:user, :user_drv, :standard_error] -> :shell
      shell_gl != nil and pid == shell_gl -> :shell
      true -> nil
    end
  end

  defp shell_module?({m, _, _}), do: m in @shell_modules
  defp shell_module?(_), do: false

  # The caller's group leader is the shell's I/O server when start/1 was typed in a shell.
  defp shell_group_leader(caller) do
    with {:group_leader, gl} <- Process.info(caller, :group_leader),
         {:current_function, {:group, _, _}} <- Process.info(gl, :current_function) do
      gl
    else
      _ -> nil
    end
  end
end
