defmodule ScopeBeam.Forwarder do
  @moduledoc """
  Sends the node's `:telemetry` events (Phoenix, LiveView, Ecto, Broadway),
  process samples and GenServer state changes to scope-pipeline's
  `beam_telemetry` receiver. Start it with `ScopeBeam.attach/1`, or put
  `{ScopeBeam.Forwarder, opts}` in your own supervision tree.

  A supervisor (`:rest_for_one`) over three processes: the sender (the TCP
  connection, hello, reconnects with backoff), the handlers (attached to
  `:telemetry` while it runs, detached when it stops) and the sampler.
  Events reach the sender through a bounded queue (`ScopeBeam.Forwarder.Queue`)
  that drops and counts when full, so the application is never slowed down.
  """

  use Supervisor

  alias ScopeBeam.Forwarder.{Handlers, Queue, Sampler, Sender}

  @name __MODULE__
  @queue_key {__MODULE__, :queue}

  @defaults [
    host: "127.0.0.1",
    port: 4712,
    token: nil,
    app: nil,
    handlers: [:phoenix, :live_view, :ecto, :broadway],
    ecto_repos: nil,
    ecto_prefixes: [],
    events: [],
    include_params: false,
    max_value_bytes: 1024,
    max_queue: 10_000,
    batch_size: 500,
    connect_timeout: 5_000,
    send_timeout: 30_000,
    backoff_min: 500,
    backoff_max: 30_000,
    keepalive_interval: 30_000,
    tls: nil,
    sample_interval: 5_000,
    top_n: 10,
    max_processes: 100_000
  ]

  @doc "The options and their defaults."
  def defaults, do: @defaults

  @doc """
  Starts the forwarder, not linked to the caller (a crashing shell does not
  stop it). `{:error, {:already_started, pid}}` while one runs.
  """
  @spec attach(keyword()) :: {:ok, pid()} | {:error, term()}
  def attach(opts \\ []) do
    with {:ok, cfg} <- validate(opts) do
      case Supervisor.start_link(__MODULE__, cfg, name: @name) do
        {:ok, pid} ->
          Process.unlink(pid)
          {:ok, pid}

        other ->
          other
      end
    end
  end

  @doc "Stops the forwarder: handlers detached, watches removed, the connection closed. `:ok` also when none runs."
  @spec detach() :: :ok
  def detach do
    case Process.whereis(@name) do
      nil ->
        :ok

      pid ->
        try do
          Supervisor.stop(pid, :normal, :infinity)
        catch
          :exit, _ -> :ok
        end

        :ok
    end
  end

  @doc "For supervision trees: `{ScopeBeam.Forwarder, host: …, port: …}`."
  def child_spec(opts) do
    %{id: __MODULE__, start: {__MODULE__, :start_link, [opts]}, type: :supervisor}
  end

  def start_link(opts) do
    with {:ok, cfg} <- validate(opts), do: Supervisor.start_link(__MODULE__, cfg, name: @name)
  end

  @doc """
  What the forwarder has done since it started: `connected`, `queued`, `sent`,
  `dropped` by reason (`queue_full`, `no_sender`, `send_failed`,
  `handler_error`, `not_connected`), `reconnects`, `last_error`.
  `{:error, :not_attached}` when none runs.
  """
  @spec stats() :: map() | {:error, :not_attached}
  def stats do
    case queue() do
      nil -> {:error, :not_attached}
      q -> Map.merge(Queue.stats(q), Sender.status(ScopeBeam.Forwarder.Sender))
    end
  end

  @doc false
  # The running forwarder's queue (for ScopeBeam.Watch), or nil.
  def queue do
    if Process.whereis(@name), do: :persistent_term.get(@queue_key, nil)
  end

  @impl true
  def init(cfg) do
    Process.flag(:trap_exit, true)
    queue = Queue.new(ScopeBeam.Forwarder.Sender, cfg.max_queue)
    cfg = Map.merge(cfg, %{queue: queue, sender_name: ScopeBeam.Forwarder.Sender})
    :persistent_term.put(@queue_key, queue)

    children =
      [
        # First, so that it stops last and a sender restart leaves watches alone.
        %{id: ScopeBeam.Forwarder.Cleanup, start: {ScopeBeam.Forwarder.Cleanup, :start_link, []}},
        %{id: Sender, start: {Sender, :start_link, [cfg]}},
        %{id: Handlers, start: {Handlers, :start_link, [cfg]}, shutdown: 5_000}
      ] ++
        if(cfg.sample_interval == :infinity, do: [], else: [%{id: Sampler, start: {Sampler, :start_link, [cfg]}}])

    Supervisor.init(children, strategy: :rest_for_one, max_restarts: 10, max_seconds: 60)
  end

  @doc false
  def forget_queue, do: :persistent_term.erase(@queue_key)

  @doc false
  def validate(opts) when is_list(opts) do
    unknown = Enum.uniq(Keyword.keys(opts)) -- Keyword.keys(@defaults)

    if unknown != [] do
      {:error, {:unknown_option, hd(unknown)}}
    else
      cfg = Map.new(Keyword.merge(@defaults, opts))

      case Enum.find(cfg, fn {k, v} -> not valid?(k, v) end) do
        nil -> {:ok, %{cfg | ecto_prefixes: ecto_prefixes(cfg)}}
        {k, v} -> {:error, {:invalid_option, k, v}}
      end
    end
  end

  def validate(_), do: {:error, :options_must_be_a_keyword_list}

  defp valid?(:host, v), do: is_binary(v) or is_list(v)
  defp valid?(:port, v), do: is_integer(v) and v in 1..65_535
  defp valid?(:token, v), do: is_nil(v) or is_binary(v)
  defp valid?(:app, v), do: is_nil(v) or is_atom(v) or is_binary(v)
  defp valid?(:handlers, v), do: is_list(v) and Enum.all?(v, &(&1 in [:phoenix, :live_view, :ecto, :broadway]))
  defp valid?(:ecto_repos, v), do: is_nil(v) or (is_list(v) and Enum.all?(v, &is_atom/1))
  defp valid?(:ecto_prefixes, v), do: is_list(v) and Enum.all?(v, &atom_list?/1)
  defp valid?(:events, v), do: is_list(v) and Enum.all?(v, &atom_list?/1)
  defp valid?(:include_params, v), do: is_boolean(v)
  defp valid?(:sample_interval, v), do: v == :infinity or (is_integer(v) and v >= 100)
  defp valid?(:keepalive_interval, v), do: v == :infinity or (is_integer(v) and v >= 10)
  defp valid?(:tls, nil), do: true

  defp valid?(:tls, v) do
    Keyword.keyword?(v) and Keyword.keys(v) -- [:cacertfile, :certfile, :keyfile, :server_name] == [] and
      path?(v[:cacertfile]) and Enum.all?([:certfile, :keyfile], &(v[&1] == nil or path?(v[&1]))) and
      (v[:certfile] == nil) == (v[:keyfile] == nil) and (v[:server_name] == nil or path?(v[:server_name]))
  end
  defp valid?(k, v) when k in [:max_value_bytes], do: is_integer(v) and v >= 16
  defp valid?(_k, v), do: is_integer(v) and v > 0

  defp atom_list?(l), do: is_list(l) and l != [] and Enum.all?(l, &is_atom/1)

  # A file name or host name: a non-empty binary or charlist.
  defp path?(v), do: (is_binary(v) and v != "") or (is_list(v) and v != [] and List.ascii_printable?(v))

  # Ecto's default telemetry prefix for MyApp.Repo is [:my_app, :repo]; repos
  # default to the app's `config :my_app, ecto_repos: [...]`.
  defp ecto_prefixes(cfg) do
    repos =
      cond do
        is_list(cfg.ecto_repos) -> cfg.ecto_repos
        is_atom(cfg.app) and cfg.app != nil -> Application.get_env(cfg.app, :ecto_repos, [])
        true -> []
      end

    from_repos =
      for repo <- repos do
        repo |> Module.split() |> Enum.map(&(&1 |> Macro.underscore() |> String.to_atom()))
      end

    if is_list(cfg.ecto_prefixes), do: Enum.uniq(cfg.ecto_prefixes ++ from_repos), else: cfg.ecto_prefixes
  end
end
