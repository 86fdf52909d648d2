defmodule ScopeBeam.Tracer.Options do
  @moduledoc false
  # Validation of `ScopeBeam.Tracer.start/1` options, the dangerous-pattern
  # guard and the compilation of call patterns into match specs. Pure: runs in
  # the caller before any process, port or trace flag exists.

  @defaults [
    port: 4711,
    queue_size: 50_000,
    processes: :all,
    flags: [:send, :receive, :procs],
    calls: [],
    return_trace: false,
    exception_trace: false,
    call_scope: :local,
    timestamp: :timestamp,
    max_events_per_second: 100_000,
    max_duration: 60_000,
    clock_interval: 1_000,
    rate_check_interval: 100,
    snapshot: true
  ]

  @known_flags [
    :send,
    :receive,
    :procs,
    :call,
    :return_to,
    :running,
    :exiting,
    :running_procs,
    :running_ports,
    :garbage_collection,
    :ports,
    :arity,
    :silent,
    :set_on_spawn,
    :set_on_first_spawn,
    :set_on_link,
    :set_on_first_link
  ]

  @timestamps [:timestamp, :monotonic_timestamp, :strict_monotonic_timestamp]

  # Any pattern on these modules is refused: they run on every hot path.
  @hot_modules [:erlang, :erts_internal, :io, :io_lib, :lists, :ets, :maps, :timer]

  # Whole-module patterns (`{M, :_, :_}`) on these are refused; a single
  # function such as `{:gen_server, :call, 3}` is allowed.
  @hot_wildcard_modules [
    :gen,
    :gen_server,
    :gen_statem,
    :gen_event,
    :proc_lib,
    GenServer,
    Enum,
    Map,
    List,
    Kernel,
    Keyword,
    String
  ]

  def defaults, do: @defaults
  def known_flags, do: @known_flags
  def hot_modules, do: @hot_modules
  def hot_wildcard_modules, do: @hot_wildcard_modules

  @doc false
  def validate(opts) when is_list(opts) do
    with :ok <- check_keys(opts),
         opts = Keyword.merge(@defaults, opts),
         {:ok, port} <- int_opt(opts, :port, 0, 65_535),
         {:ok, queue_size} <- int_opt(opts, :queue_size, 1, 100_000_000),
         {:ok, targets} <- targets(opts[:processes]),
         {:ok, flags} <- flags(opts[:flags]),
         {:ok, ts} <- timestamp(opts[:timestamp]),
         {:ok, return_trace} <- bool_opt(opts, :return_trace),
         {:ok, exception_trace} <- bool_opt(opts, :exception_trace),
         {:ok, scope} <- call_scope(opts[:call_scope]),
         {:ok, patterns} <- patterns(opts[:calls], return_trace, exception_trace),
         {:ok, max_eps} <- limit_opt(opts, :max_events_per_second),
         {:ok, max_duration} <- limit_opt(opts, :max_duration),
         {:ok, clock_interval} <- limit_opt(opts, :clock_interval),
         {:ok, rate_interval} <- int_opt(opts, :rate_check_interval, 10, 1_000),
         {:ok, snapshot} <- bool_opt(opts, :snapshot) do
      flags = if patterns != [] and :call not in flags, do: flags ++ [:call], else: flags

      {:ok,
       %{
         port: port,
         queue_size: queue_size,
         targets: targets,
         flags: flags,
         timestamp: ts,
         patterns: patterns,
         call_scope: scope,
         max_events_per_second: max_eps,
         max_duration: max_duration,
         clock_interval: clock_interval,
         rate_check_interval: rate_interval,
         snapshot: snapshot
       }}
    end
  end

  def validate(other), do: {:error, {:invalid_options, other}}

  defp check_keys(opts) do
    if Keyword.keyword?(opts) do
      case Enum.find(Keyword.keys(opts), &(not Keyword.has_key?(@defaults, &1))) do
        nil -> :ok
        key -> {:error, {:unknown_option, key}}
      end
    else
      {:error, {:invalid_options, opts}}
    end
  end

  defp int_opt(opts, key, min, max) do
    case opts[key] do
      v when is_integer(v) and v >= min and v <= max -> {:ok, v}
      v -> {:error, {:invalid_option, key, v}}
    end
  end

  defp bool_opt(opts, key) do
    case opts[key] do
      v when is_boolean(v) -> {:ok, v}
      v -> {:error, {:invalid_option, key, v}}
    end
  end

  defp limit_opt(opts, key) do
    case opts[key] do
      :infinity -> {:ok, :infinity}
      v when is_integer(v) and v > 0 -> {:ok, v}
      v -> {:error, {:invalid_option, key, v}}
    end
  end

  defp call_scope(scope) when scope in [:local, :global], do: {:ok, scope}
  defp call_scope(other), do: {:error, {:invalid_option, :call_scope, other}}

  defp timestamp(ts) when ts in @timestamps, do: {:ok, ts}
  defp timestamp(other), do: {:error, {:invalid_option, :timestamp, other}}

  defp flags(flags) when is_list(flags) do
    case Enum.find(flags, &(&1 not in @known_flags)) do
      nil -> {:ok, Enum.uniq(flags)}
      bad -> {:error, {:invalid_flag, bad}}
    end
  end

  defp flags(other), do: {:error, {:invalid_option, :flags, other}}

  # Targets: :all | :new | :existing | pid | port | registered name | list of those.
  # Registered names are resolved here, once, to the pid/port they name now.
  defp targets([]), do: {:error, {:invalid_option, :processes, []}}

  defp targets(list) when is_list(list) do
    Enum.reduce_while(list, {:ok, []}, fn t, {:ok, acc} ->
      case target(t) do
        {:ok, resolved} -> {:cont, {:ok, acc ++ [resolved]}}
        error -> {:halt, error}
      end
    end)
    |> case do
      {:ok, resolved} -> {:ok, Enum.uniq(resolved)}
      error -> error
    end
  end

  defp targets(one), do: targets([one])

  defp target(t) when t in [:all, :new, :existing], do: {:ok, t}

  defp target(pid) when is_pid(pid) do
    if node(pid) == node() and Process.alive?(pid),
      do: {:ok, pid},
      else: {:error, {:no_such_process, pid}}
  end

  defp target(port) when is_port(port) do
    if node(port) == node() and Port.info(port) != nil,
      do: {:ok, port},
      else: {:error, {:no_such_port, port}}
  end

  defp target(name) when is_atom(name) do
    # Process.whereis/1 also returns a registered port.
    case Process.whereis(name) do
      nil -> {:error, {:no_such_process, name}}
      pid_or_port -> {:ok, pid_or_port}
    end
  end

  defp target(other), do: {:error, {:invalid_option, :processes, other}}

  # Call patterns -> [{mfa, match_spec}] (match_spec `true` = trace, no actions).
  defp patterns(calls, rt, et) when is_list(calls) do
    Enum.reduce_while(calls, {:ok, []}, fn call, {:ok, acc} ->
      case pattern(call, rt, et) do
        {:ok, compiled} -> {:cont, {:ok, acc ++ [compiled]}}
        error -> {:halt, error}
      end
    end)
  end

  defp patterns(other, _, _), do: {:error, {:invalid_option, :calls, other}}

  defp pattern({m, f, a} = p, rt, et), do: pattern({m, f, a}, nil, p, rt, et)
  defp pattern({m, f, a, user_ms} = p, rt, et), do: pattern({m, f, a}, user_ms, p, rt, et)
  defp pattern(other, _, _), do: {:error, {:invalid_pattern, other}}

  defp pattern(mfa, user_ms, p, rt, et) do
    with :ok <- check_shape(mfa, p),
         :ok <- check_dangerous(mfa),
         {:ok, ms} <- match_spec(user_ms, actions(rt, et), p) do
      {:ok, {mfa, ms}}
    end
  end

  defp check_shape({:_, :_, :_}, _), do: :ok

  defp check_shape({m, :_, :_}, _) when is_atom(m) and m != :_, do: :ok

  defp check_shape({m, f, a}, _)
       when is_atom(m) and m != :_ and is_atom(f) and f != :_ and
              (a == :_ or (is_integer(a) and a >= 0 and a <= 255)),
       do: :ok

  defp check_shape(_, p), do: {:error, {:invalid_pattern, p}}

  @doc false
  def check_dangerous({:_, :_, :_} = mfa), do: {:error, {:dangerous_pattern, mfa}}

  def check_dangerous({m, f, _} = mfa) do
    cond do
      m in @hot_modules -> {:error, {:dangerous_pattern, mfa}}
      m in @hot_wildcard_modules and f == :_ -> {:error, {:dangerous_pattern, mfa}}
      own_module?(m) -> {:error, {:dangerous_pattern, mfa}}
      true -> :ok
    end
  end

  defp own_module?(m) do
    name = Atom.to_string(m)
    name == "Elixir.ScopeBeam" or String.starts_with?(name, "Elixir.ScopeBeam.")
  end

  # {exception_trace} already implies the return_from message, so it wins.
  defp actions(_rt, true), do: [{:exception_trace}]
  defp actions(true, false), do: [{:return_trace}]
  defp actions(false, false), do: []

  defp match_spec(nil, [], _p), do: {:ok, true}
  defp match_spec(nil, actions, _p), do: {:ok, [{:_, [], actions}]}

  defp match_spec(user_ms, actions, p) when is_list(user_ms) and user_ms != [] do
    ms =
      Enum.map(user_ms, fn
        {head, guards, body} when is_list(guards) and is_list(body) ->
          {head, guards, body ++ (actions -- body)}

        other ->
          other
      end)

    case safe_match_spec_test(ms) do
      {:ok, _, _, _} -> {:ok, ms}
      {:error, errors} -> {:error, {:invalid_match_spec, p, errors}}
    end
  end

  defp match_spec(_other, _actions, p), do: {:error, {:invalid_match_spec, p, :not_a_list}}

  defp safe_match_spec_test(ms) do
    :erlang.match_spec_test([], ms, :trace)
  rescue
    ArgumentError -> {:error, :badarg}
  end
end
