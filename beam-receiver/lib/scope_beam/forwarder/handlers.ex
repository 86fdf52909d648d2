defmodule ScopeBeam.Forwarder.Handlers do
  @moduledoc """
  The `:telemetry` handlers of the forwarder, and the process that attaches
  them while the forwarder runs (and detaches them when it stops).

  `:telemetry` is the application's own dependency, so it is called
  dynamically: without it the forwarder still samples and watches, and logs
  once that no handler is attached.

  Each handler runs in the process that emitted the event, so it is kept
  small: it copies a fixed set of metadata fields (never a whole `conn`,
  `socket`, assigns, session or query params), adds the caller's pid and the
  `telemetry_span_context`, and offers the term to the bounded queue — no
  waiting, no reply. A handler that would raise counts `handler_error`
  instead, so `:telemetry` never detaches it.
  """

  use GenServer
  require Logger

  alias ScopeBeam.Forwarder.Queue

  @phoenix [
    [:phoenix, :endpoint, :start],
    [:phoenix, :endpoint, :stop],
    [:phoenix, :router_dispatch, :start],
    [:phoenix, :router_dispatch, :stop],
    [:phoenix, :router_dispatch, :exception],
    [:phoenix, :error_rendered],
    [:phoenix, :socket_connected],
    [:phoenix, :channel_joined],
    [:phoenix, :channel_handled_in],
    [:phoenix, :controller, :render, :start],
    [:phoenix, :controller, :render, :stop],
    [:phoenix, :controller, :render, :exception]
  ]

  @live_view (for stage <- [:mount, :handle_params, :handle_event, :render],
                  phase <- [:start, :stop, :exception] do
                [:phoenix, :live_view, stage, phase]
              end) ++
               (for stage <- [:handle_event, :update], phase <- [:start, :stop, :exception] do
                  [:phoenix, :live_component, stage, phase]
                end)

  @broadway [
    [:broadway, :topology, :init],
    [:broadway, :processor, :start],
    [:broadway, :processor, :stop],
    [:broadway, :processor, :message, :start],
    [:broadway, :processor, :message, :stop],
    [:broadway, :processor, :message, :exception],
    [:broadway, :batcher, :start],
    [:broadway, :batcher, :stop],
    [:broadway, :batch_processor, :start],
    [:broadway, :batch_processor, :stop]
  ]

  @doc "The events each handler group attaches to, for the forwarder's options."
  @spec event_groups(map()) :: [{atom(), [[atom()]]}]
  def event_groups(cfg) do
    groups = %{
      phoenix: @phoenix,
      live_view: @live_view,
      ecto: Enum.map(cfg.ecto_prefixes, &(&1 ++ [:query])),
      broadway: @broadway
    }

    named = for g <- cfg.handlers, events = Map.fetch!(groups, g), events != [], do: {g, events}
    if cfg.events == [], do: named, else: named ++ [{:custom, cfg.events}]
  end

  def start_link(cfg), do: GenServer.start_link(__MODULE__, cfg)

  @impl true
  def init(cfg) do
    # Trap exits so terminate/2 runs (and detaches) when the forwarder stops.
    Process.flag(:trap_exit, true)
    {:ok, %{ids: attach(cfg)}}
  end

  @impl true
  def terminate(_reason, %{ids: ids}) do
    Enum.each(ids, &telemetry(:detach, [&1]))
  end

  @doc false
  def handler_id(group), do: {ScopeBeam.Forwarder, group}

  defp attach(cfg) do
    if Code.ensure_loaded?(:telemetry) do
      for {group, events} <- event_groups(cfg) do
        id = handler_id(group)
        # A forwarder killed without running terminate/2 leaves its handlers behind.
        telemetry(:detach, [id])
        config = %{queue: cfg.queue, group: group, include_params: cfg.include_params, max_value_bytes: cfg.max_value_bytes}
        :ok = telemetry(:attach_many, [id, events, &__MODULE__.handle_event/4, config])
        id
      end
    else
      Logger.warning("scope_beam: :telemetry is not loaded in this node; no Phoenix/LiveView/Ecto/Broadway handlers attached (the sampler and watch/2 still work)")
      []
    end
  end

  # The application's :telemetry, called through apply/3 (not a compile-time dependency).
  defp telemetry(fun, args), do: apply(:telemetry, fun, args)

  @doc """
  The handler, as `:telemetry` calls it: `(event_name, measurements, metadata, config)`.
  Returns `:ok` always.
  """
  def handle_event(event, measurements, metadata, %{queue: queue} = config) do
    term = {:telemetry, event, measurements(event, measurements), metadata(event, metadata, config),
            :erlang.system_time(:nanosecond)}

    Queue.offer(queue, term)
    :ok
  rescue
    _ ->
      Queue.count(queue, :handler_error, 1)
      :ok
  catch
    _, _ ->
      Queue.count(queue, :handler_error, 1)
      :ok
  end

  @doc false
  # Numbers only. Broadway calls its monotonic timestamp `time`; named as the
  # others name it so the receiver converts it to Unix time.
  def measurements([:broadway | _], m) do
    for {k, v} <- m, is_number(v), into: %{}, do: {if(k == :time, do: :monotonic_time, else: k), v}
  end

  def measurements(_event, m), do: for({k, v} <- m, is_number(v), into: %{}, do: {k, v})

  @doc false
  def metadata(event, meta, config) do
    base = %{pid: self()}

    base =
      case Map.get(meta, :telemetry_span_context) do
        nil -> base
        ctx -> Map.put(base, :telemetry_span_context, ctx)
      end

    Map.merge(base, pick(config.group, event, meta, config))
  end

  # --- Phoenix ---------------------------------------------------------------

  defp pick(:phoenix, [:phoenix, :endpoint, _], meta, c), do: conn(meta, c)

  defp pick(:phoenix, [:phoenix, :router_dispatch, phase], meta, c) do
    conn(meta, c)
    |> put(:route, text(meta[:route], c))
    |> put(:plug, module(meta[:plug]))
    |> put(:plug_opts, if(is_atom(meta[:plug_opts]), do: meta[:plug_opts]))
    |> put(:pipe_through, atoms(meta[:pipe_through]))
    |> put(:path_params, if(c.include_params, do: rendered(meta[:path_params], c)))
    |> Map.merge(if phase == :exception, do: exception(meta, c), else: %{})
  end

  defp pick(:phoenix, [:phoenix, :error_rendered], meta, c) do
    conn(meta, c)
    |> put(:status, meta[:status])
    |> Map.merge(exception(meta, c))
  end

  defp pick(:phoenix, [:phoenix, :socket_connected], meta, c) do
    %{}
    |> put(:endpoint, module(meta[:endpoint]))
    |> put(:user_socket, module(meta[:user_socket]))
    |> put(:transport, atom(meta[:transport]))
    |> put(:vsn, text(meta[:vsn], c))
    |> put(:serializer, module(meta[:serializer]))
    |> put(:result, atom(meta[:result]))
    |> put(:params, if(c.include_params, do: rendered(meta[:params], c)))
  end

  defp pick(:phoenix, [:phoenix, channel_event], meta, c) when channel_event in [:channel_joined, :channel_handled_in] do
    socket = meta[:socket] || %{}

    %{}
    |> put(:topic, text(field(socket, :topic), c))
    |> put(:channel, module(field(socket, :channel)))
    |> put(:endpoint, module(field(socket, :endpoint)))
    |> put(:transport, atom(field(socket, :transport)))
    |> put(:event, text(meta[:event], c))
    |> put(:result, atom(meta[:result]))
    |> put(:params, if(c.include_params, do: rendered(meta[:params], c)))
  end

  defp pick(:phoenix, [:phoenix, :controller, :render, phase], meta, c) do
    conn(meta, c)
    |> put(:view, module(meta[:view]))
    |> put(:template, text(meta[:template], c))
    |> put(:format, text(meta[:format], c))
    |> Map.merge(if phase == :exception, do: exception(meta, c), else: %{})
  end

  # --- LiveView --------------------------------------------------------------

  defp pick(:live_view, [:phoenix, kind, stage, phase], meta, c) do
    socket = meta[:socket] || %{}

    %{}
    |> put(:view, module(field(socket, :view)))
    |> put(:socket_id, text(field(socket, :id), c))
    |> put(:transport_pid, pid(field(socket, :transport_pid)))
    |> put(:connected, is_pid(field(socket, :transport_pid)))
    |> put(:component, if(kind == :live_component, do: module(meta[:component])))
    |> put(:event, if(stage == :handle_event, do: text(meta[:event], c)))
    |> put(:uri, if(stage == :handle_params, do: without_query(meta[:uri], c)))
    |> put(:force, if(stage == :render, do: boolean(meta[:force?])))
    |> put(:changed, if(stage == :render, do: boolean(meta[:changed?])))
    |> put(:params, if(c.include_params and stage != :render, do: rendered(meta[:params], c)))
    |> Map.merge(if phase == :exception, do: exception(meta, c), else: %{})
  end

  # --- Ecto ------------------------------------------------------------------

  defp pick(:ecto, _event, meta, c) do
    {result, rows, error} =
      case meta[:result] do
        {:ok, res} -> {:ok, number(field(res, :num_rows)), nil}
        {:error, e} -> {:error, nil, error_message(e, c)}
        _ -> {nil, nil, nil}
      end

    %{}
    |> put(:repo, module(meta[:repo]))
    |> put(:adapter, adapter(meta[:repo]))
    |> put(:source, text(meta[:source], c))
    |> put(:query, text(meta[:query], %{c | max_value_bytes: max(c.max_value_bytes, 4096)}))
    |> put(:type, atom(meta[:type]))
    |> put(:result, result)
    |> put(:result_rows, rows)
    |> put(:error, error)
    |> put(:params, if(c.include_params, do: rendered(meta[:cast_params] || meta[:params], c)))
  end

  # --- Broadway --------------------------------------------------------------

  defp pick(:broadway, [:broadway, :topology, :init], meta, _c) do
    config = meta[:config]
    name = if is_list(config), do: Keyword.get(config, :name)

    %{}
    |> put(:topology_name, module(name))
    |> put(:supervisor_pid, pid(meta[:supervisor_pid]))
    |> put(:producer, producer_module(config))
  end

  defp pick(:broadway, [:broadway | rest], meta, c) do
    message = meta[:message]
    batch_info = meta[:batch_info]

    %{}
    |> put(:topology_name, module(meta[:topology_name]))
    |> put(:name, module(meta[:name]))
    |> put(:index, number(meta[:index]))
    |> put(:processor_key, atom(meta[:processor_key]))
    |> put(:batcher_key, atom(meta[:batcher_key]))
    |> put(:messages, count(meta[:messages]))
    |> put(:successful_messages, count(meta[:successful_messages]))
    |> put(:failed_messages, count(meta[:failed_messages]))
    |> put(:batch_key, if(batch_info, do: rendered(field(batch_info, :batch_key), c)))
    |> put(:batch_size, if(batch_info, do: number(field(batch_info, :size))))
    |> put(:batch_trigger, if(batch_info, do: atom(field(batch_info, :trigger))))
    |> put(:batch_partition, if(batch_info, do: number(field(batch_info, :partition))))
    |> put(:message_batcher, if(message, do: atom(field(message, :batcher))))
    |> put(:message_status, if(message, do: message_status(field(message, :status), c)))
    |> Map.merge(if List.last(rest) == :exception, do: exception(meta, c), else: %{})
  end

  # --- events named in `events:` -----------------------------------------------

  # Unknown shapes: scalar values only (numbers, atoms, short text, pids);
  # maps, lists, tuples and structs are left out.
  defp pick(:custom, _event, meta, c) do
    for {k, v} <- meta, is_atom(k), k != :telemetry_span_context, scalar = scalar(v, c), scalar != nil, into: %{},
      do: {k, scalar}
  end

  defp pick(_group, _event, _meta, _c), do: %{}

  # --- the conn --------------------------------------------------------------

  # Only these fields of a Plug.Conn: never cookies, headers beyond the two
  # named, params, assigns, session or body.
  defp conn(meta, c) do
    case meta[:conn] do
      %{} = conn ->
        %{}
        |> put(:method, text(field(conn, :method), c))
        |> put(:path, text(field(conn, :request_path), c))
        |> put(:host, text(field(conn, :host), c))
        |> put(:scheme, atom(field(conn, :scheme)))
        |> put(:status, number(field(conn, :status)))
        |> put(:remote_ip, ip(field(conn, :remote_ip)))
        |> put(:request_id, text(header(conn, :resp_headers, "x-request-id") || header(conn, :req_headers, "x-request-id"), c))
        |> put(:user_agent, text(header(conn, :req_headers, "user-agent"), c))
        |> put(:controller, module(private(conn, :phoenix_controller)))
        |> put(:action, atom(private(conn, :phoenix_action)))

      _ ->
        %{}
    end
  end

  defp header(conn, which, name) do
    case field(conn, which) do
      headers when is_list(headers) ->
        Enum.find_value(headers, fn
          {^name, value} -> value
          _ -> nil
        end)

      _ ->
        nil
    end
  end

  defp private(conn, key) do
    case field(conn, :private) do
      %{} = p -> Map.get(p, key)
      _ -> nil
    end
  end

  # --- exceptions --------------------------------------------------------------

  defp exception(meta, c) do
    kind = meta[:kind]
    reason = meta[:reason]

    {type, message} =
      cond do
        is_exception(reason) -> {inspect(reason.__struct__), error_message(reason, c)}
        kind == :exit -> {"exit", rendered(reason, c)}
        kind == :throw -> {"throw", rendered(reason, c)}
        true -> {rendered(kind, c), rendered(reason, c)}
      end

    %{}
    |> put(:kind, atom(kind))
    |> put(:exception_type, type)
    |> put(:exception_message, message)
    |> put(:stacktrace, stacktrace(meta[:stacktrace], c))
  end

  defp stacktrace(stack, c) when is_list(stack) and stack != [] do
    cap(Exception.format_stacktrace(Enum.take(stack, 20)), max(c.max_value_bytes, 4096))
  rescue
    _ -> nil
  end

  defp stacktrace(_stack, _c), do: nil

  defp error_message(e, c) when is_exception(e) do
    cap(Exception.message(e), c.max_value_bytes)
  rescue
    _ -> rendered(e, c)
  end

  defp error_message(e, c), do: rendered(e, c)

  defp message_status(:ok, _c), do: "ok"
  defp message_status({kind, reason}, c) when is_atom(kind), do: cap("#{kind}: #{rendered(reason, c)}", c.max_value_bytes)
  defp message_status(other, c), do: rendered(other, c)

  # The repo's adapter (Ecto.Adapters.Postgres, ...), so db.system can be named.
  defp adapter(repo) when is_atom(repo) and repo != nil do
    if Code.ensure_loaded?(repo) and function_exported?(repo, :__adapter__, 0), do: module(repo.__adapter__())
  end

  defp adapter(_repo), do: nil

  # --- values ------------------------------------------------------------------

  defp put(map, _key, nil), do: map
  defp put(map, key, value), do: Map.put(map, key, value)

  defp field(%{} = map, key), do: Map.get(map, key)
  defp field(_other, _key), do: nil

  # Broadway's `producer: [module: {Module, opts}, ...]`: the module's name, never its opts.
  defp producer_module(config) when is_list(config) do
    with producer when is_list(producer) <- Keyword.get(config, :producer),
         {mod, _opts} when is_atom(mod) <- Keyword.get(producer, :module) do
      inspect(mod)
    else
      _ -> nil
    end
  end

  defp producer_module(_config), do: nil

  defp text(v, c) when is_binary(v), do: cap(v, c.max_value_bytes)
  defp text(v, _c) when is_atom(v) and v not in [nil, true, false], do: Atom.to_string(v)
  defp text(_v, _c), do: nil

  defp module(v) when is_atom(v) and v not in [nil, true, false], do: v
  defp module(_), do: nil

  defp atom(v) when is_atom(v) and v != nil, do: v
  defp atom(_), do: nil

  defp atoms(l) when is_list(l), do: Enum.filter(l, &is_atom/1)
  defp atoms(_), do: nil

  defp boolean(v) when is_boolean(v), do: v
  defp boolean(_), do: nil

  defp number(v) when is_number(v), do: v
  defp number(_), do: nil

  defp pid(v) when is_pid(v), do: v
  defp pid(_), do: nil

  defp count(l) when is_list(l), do: length(l)
  defp count(_), do: nil

  defp ip(addr) when is_tuple(addr) do
    case :inet.ntoa(addr) do
      {:error, _} -> nil
      chars -> List.to_string(chars)
    end
  end

  defp ip(_), do: nil

  defp without_query(uri, c) when is_binary(uri) do
    uri |> String.split(["?", "#"], parts: 2) |> hd() |> text(c)
  end

  defp without_query(_uri, _c), do: nil

  defp scalar(v, _c) when is_number(v) or is_boolean(v) or is_pid(v), do: v
  defp scalar(v, _c) when is_atom(v) and v != nil, do: v
  defp scalar(v, c) when is_binary(v), do: if(String.valid?(v), do: cap(v, c.max_value_bytes))
  defp scalar(_v, _c), do: nil

  defp rendered(nil, _c), do: nil
  defp rendered(v, c), do: cap(inspect(v, limit: 50, printable_limit: c.max_value_bytes), c.max_value_bytes)

  @doc false
  # At most `max` bytes: cut on a character boundary and marked with "...".
  def cap(bin, max) when is_binary(bin) and byte_size(bin) <= max, do: bin
  def cap(bin, max) when is_binary(bin), do: whole_chars(binary_part(bin, 0, max(max - 3, 0)), 3) <> "..."

  defp whole_chars(bin, 0), do: bin

  defp whole_chars(bin, n) do
    if bin == "" or String.valid?(bin), do: bin, else: whole_chars(binary_part(bin, 0, byte_size(bin) - 1), n - 1)
  end
end
