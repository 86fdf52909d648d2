defmodule ScopeBeam.Tracer.Backend do
  @moduledoc false
  # Sets and removes trace flags and call patterns, with the trace port as the
  # tracer. Two implementations:
  #
  #   * :session (OTP 27+): a private trace session (`trace:session_create/3`),
  #     so other tools' trace settings are never touched; teardown is one
  #     `trace:session_destroy/1`.
  #   * :classic (OTP 25/26): `erlang:trace/3` and `erlang:trace_pattern/3` on
  #     the node's single static session; teardown removes exactly the flags
  #     and patterns this module set, and only where the tracer is our port.

  @proc_group [:all, :new, :existing]
  @port_flags [:send, :receive, :ports, :running_ports]
  @ts_flags [:timestamp, :monotonic_timestamp, :strict_monotonic_timestamp]

  @doc "The backend this node supports."
  def kind do
    if Code.ensure_loaded?(:trace) and function_exported?(:trace, :session_create, 3),
      do: :session,
      else: :classic
  end

  @doc """
  Sets call patterns, then trace flags on the targets, then untraces `own`
  (ScopeBeam's own processes and the trace port). On any failure everything
  set so far is removed again. Returns `{:ok, handle}` or `{:error, reason}`.
  """
  def setup(kind, port, cfg, own) do
    handle = %{
      kind: kind,
      port: port,
      session: nil,
      flags: cfg.flags ++ [cfg.timestamp],
      scope: cfg.call_scope,
      patterns: [],
      targets: []
    }

    with {:ok, handle} <- open_session(handle),
         {:ok, handle} <- set_patterns(handle, cfg.patterns),
         {:ok, handle} <- set_targets(handle, cfg.targets) do
      # Ourselves first, before any other call of ours can be traced.
      {mine, others} = Enum.split_with(own, &(&1 == self()))
      Enum.each(mine ++ others, &untrace_own(handle, &1))
      {:ok, handle}
    else
      {:error, reason, handle} ->
        teardown(handle)
        {:error, reason}
    end
  end

  # ---------------------------------------------------------------- setting

  defp set_patterns(handle, patterns) do
    Enum.reduce_while(patterns, {:ok, handle}, fn {{m, _, _} = mfa, ms}, {:ok, h} ->
      _ = Code.ensure_loaded(m)

      case trace_function(h, mfa, ms) do
        n when is_integer(n) and n > 0 -> {:cont, {:ok, %{h | patterns: h.patterns ++ [mfa]}}}
        0 -> {:halt, {:error, {:no_matching_functions, mfa}, h}}
        {:error, reason} -> {:halt, {:error, {:trace_pattern_failed, mfa, reason}, h}}
      end
    end)
  end

  defp set_targets(handle, targets) do
    Enum.reduce_while(targets, {:ok, handle}, fn target, {:ok, h} ->
      case trace_target(h, target) do
        :ok -> {:cont, {:ok, %{h | targets: h.targets ++ [target]}}}
        {:error, reason} -> {:halt, {:error, reason, h}}
      end
    end)
  end

  # ------------------------------------------------------------- tearing down

  @doc "Removes every flag and pattern `setup/4` set. Never raises."
  def teardown(%{kind: :session, session: nil}), do: :ok

  def teardown(%{kind: :session} = h) do
    safe(fn -> apply(:trace, :session_destroy, [h.session]) end)
    :ok
  end

  def teardown(%{kind: :classic, port: port, flags: flags} = h) do
    # 1. Stop new processes/ports from picking up our flags (only if the
    #    default tracer for new ones is still ours).
    if Enum.any?(h.targets, &(&1 in [:all, :new])) and
         safe(fn -> :erlang.trace_info(:new, :tracer) end) == {:tracer, port} do
      safe(fn -> :erlang.trace(:new, false, flags) end)
    end

    # 2. Explicit targets, then a sweep for everything else whose tracer is
    #    our port (processes that got flags via :all/:new/:existing or
    #    set_on_spawn/set_on_link). Processes traced by another tracer are
    #    left alone.
    explicit = Enum.reject(h.targets, &(&1 in @proc_group))
    Enum.each(explicit ++ Process.list() ++ Port.list(), &untrace_if_ours(port, &1, flags))

    # 3. Call patterns, in the scope they were set with.
    Enum.each(h.patterns, fn mfa ->
      safe(fn -> :erlang.trace_pattern(mfa, false, [h.scope]) end)
    end)

    :ok
  end

  defp untrace_if_ours(port, pid_or_port, flags) do
    if safe(fn -> :erlang.trace_info(pid_or_port, :tracer) end) == {:tracer, port} do
      safe(fn -> :erlang.trace(pid_or_port, false, flags) end)
    end
  end

  # ------------------------------------------------------- classic (OTP 25/26)

  defp open_session(%{kind: :classic} = h), do: {:ok, h}
  defp open_session(%{kind: :session} = h), do: session_create(h)

  defp trace_function(%{kind: :session} = h, mfa, ms), do: session_function(h, mfa, ms)

  defp trace_function(%{kind: :classic} = h, mfa, ms) do
    :erlang.trace_pattern(mfa, ms, [h.scope])
  rescue
    e in ArgumentError -> {:error, Exception.message(e)}
  end

  defp trace_target(%{kind: :session} = h, target), do: session_target(h, target)

  defp trace_target(%{kind: :classic, port: port} = h, target) do
    with :ok <- check_free(port, target) do
      :erlang.trace(target, true, [{:tracer, port} | h.flags])
      :ok
    end
  rescue
    e in ArgumentError -> {:error, {:trace_failed, target, Exception.message(e)}}
  end

  defp untrace_own(%{kind: :session} = h, pid_or_port), do: session_untrace(h, pid_or_port)

  defp untrace_own(%{kind: :classic}, pid) when pid == self() do
    # Our own monitor, traced only by the flags we just set on :all; asking
    # trace_info first would itself be traced (its reply is a message).
    :erlang.trace(self(), false, [:all])
  end

  defp untrace_own(%{kind: :classic, port: port}, pid_or_port) do
    # Only if it is ours: another tool's tracing of that process is left alone.
    untrace_if_ours(port, pid_or_port, [:all])
  end

  # A classic process has one tracer; tracing one that another tool traces
  # would raise badarg (and log an error), so say why up front.
  defp check_free(_port, target) when target in @proc_group, do: :ok

  defp check_free(port, target) do
    case safe(fn -> :erlang.trace_info(target, :tracer) end) do
      {:tracer, []} -> :ok
      {:tracer, ^port} -> :ok
      {:tracer, other} -> {:error, {:already_traced, target, other}}
      _ -> {:error, {:no_such_process, target}}
    end
  end

  # ------------------------------------------- OTP 27+ trace sessions (untested here)
  # Kept deliberately small. This machine runs OTP 25, so the tests exercise
  # the classic branch above; the calls below are the documented 1:1
  # equivalents from the `trace` module (kernel 10).

  defp session_create(%{port: port} = h) do
    {:ok, %{h | session: apply(:trace, :session_create, [:scope_beam, port, []])}}
  rescue
    e -> {:error, {:session_create_failed, Exception.message(e)}, h}
  end

  defp session_function(h, mfa, ms) do
    apply(:trace, :function, [h.session, mfa, ms, [h.scope]])
  rescue
    e -> {:error, Exception.message(e)}
  end

  defp session_target(h, target) do
    {proc_flags, port_flags} = split_flags(h.flags)

    cond do
      is_port(target) ->
        apply(:trace, :port, [h.session, target, true, port_flags])

      is_pid(target) ->
        apply(:trace, :process, [h.session, target, true, proc_flags])

      true ->
        # erlang:trace(all | new | existing) covered processes and ports.
        apply(:trace, :process, [h.session, target, true, proc_flags])

        if Enum.any?(port_flags, &(&1 in @port_flags)),
          do: apply(:trace, :port, [h.session, target, true, port_flags])
    end

    :ok
  rescue
    e -> {:error, {:trace_failed, target, Exception.message(e)}}
  end

  defp session_untrace(h, pid_or_port) do
    fun = if is_port(pid_or_port), do: :port, else: :process
    safe(fn -> apply(:trace, fun, [h.session, pid_or_port, false, [:all]]) end)
  end

  defp split_flags(flags) do
    proc = Enum.reject(flags, &(&1 in [:ports, :running_ports]))
    port = Enum.filter(flags, &(&1 in @port_flags or &1 in @ts_flags))
    {proc, port}
  end

  # ---------------------------------------------------------------- helpers

  defp safe(fun) do
    fun.()
  rescue
    _ -> :error
  catch
    _, _ -> :error
  end
end
