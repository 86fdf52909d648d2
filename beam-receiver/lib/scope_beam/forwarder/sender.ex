defmodule ScopeBeam.Forwarder.Sender do
  @moduledoc false
  # Owns the TCP (or, with `tls:`, TLS via :ssl) connection to
  # scope-pipeline's beam_telemetry receiver: connects, says hello (protocol
  # 1), then writes the terms offered to the queue as frames
  # `<<0, Size::32, term_to_binary(Term)::binary>>`, many per write. When it
  # has written nothing for `keepalive_interval` ms it writes the atom
  # `scope_keepalive`, so the receiver's idle_timeout closes only dead
  # connections. While not connected it keeps what arrives (the queue's bound
  # holds) and reconnects with exponential backoff and jitter. A refused hello
  # (wrong token or protocol) is logged with the receiver's reason and retried
  # at the longest backoff.

  use GenServer
  require Logger

  alias ScopeBeam.Forwarder.Queue

  @protocol 1
  @keepalive :scope_keepalive

  def start_link(cfg), do: GenServer.start_link(__MODULE__, cfg, name: cfg.sender_name)

  @doc false
  def status(name) do
    GenServer.call(name, :status, 1_000)
  catch
    :exit, _ -> %{connected: :unknown}
  end

  @impl true
  def init(cfg) do
    Process.flag(:trap_exit, true)
    # Terms offered to a sender that died with them in its mailbox are gone:
    # count them rather than let the queued count drift.
    lost = Queue.reset_queued(cfg.queue)
    if lost > 0, do: Queue.count(cfg.queue, :send_failed, lost)

    if cfg.tls, do: {:ok, _} = Application.ensure_all_started(:ssl)

    state = %{
      cfg: cfg,
      transport: if(cfg.tls, do: :ssl, else: :gen_tcp),
      socket: nil,
      last_write: now_ms(),
      buffer: :queue.new(),
      buffered: 0,
      attempt: 0,
      reconnects: 0,
      last_error: nil,
      warned: false,
      timer: nil
    }

    {:ok, state, {:continue, :connect}}
  end

  @impl true
  def handle_continue(:connect, state), do: {:noreply, connect(state)}

  @impl true
  def handle_info(:connect, state), do: {:noreply, connect(%{state | timer: nil})}

  def handle_info({:scope_beam_term, term}, %{socket: nil} = state) do
    {:noreply, %{state | buffer: :queue.in(term, state.buffer), buffered: state.buffered + 1}}
  end

  def handle_info({:scope_beam_term, term}, state) do
    terms = drain([term], 1, state.cfg.batch_size)
    {:noreply, write(state, terms, length(terms))}
  end

  def handle_info({closed, socket}, %{socket: socket} = state) when closed in [:tcp_closed, :ssl_closed] do
    {:noreply, disconnected(state, :closed_by_receiver)}
  end

  def handle_info({error, socket, reason}, %{socket: socket} = state) when error in [:tcp_error, :ssl_error] do
    {:noreply, disconnected(state, reason)}
  end

  # Tagged with the socket it was scheduled for: a tick of a connection since replaced is ignored.
  def handle_info({:keepalive, socket}, %{socket: socket} = state) when socket != nil do
    interval = state.cfg.keepalive_interval
    quiet = now_ms() - state.last_write

    if quiet >= interval do
      case state.transport.send(socket, frame(@keepalive)) do
        :ok ->
          schedule_keepalive(socket, interval)
          {:noreply, %{state | last_write: now_ms()}}

        {:error, reason} ->
          {:noreply, disconnected(state, reason)}
      end
    else
      schedule_keepalive(socket, interval - quiet)
      {:noreply, state}
    end
  end

  # The receiver sends nothing after the welcome; anything else is ignored.
  def handle_info(_other, state), do: {:noreply, state}

  @impl true
  def handle_call(:status, _from, state) do
    {:reply,
     %{
       connected: state.socket != nil,
       reconnects: state.reconnects,
       last_error: state.last_error,
       endpoint: "#{state.cfg.host}:#{state.cfg.port}",
       tls: state.transport == :ssl
     }, state}
  end

  @impl true
  def terminate(_reason, state) do
    # Whatever is still here will not be sent: count it, then close.
    pending = state.buffered + mailbox_terms()
    if pending > 0 do
      Queue.taken(state.cfg.queue, pending)
      Queue.count(state.cfg.queue, :not_connected, pending)
    end

    if state.socket, do: state.transport.close(state.socket)
    :ok
  end

  defp mailbox_terms do
    receive do
      {:scope_beam_term, _} -> 1 + mailbox_terms()
    after
      0 -> 0
    end
  end

  # Up to `max` terms already in the mailbox, without waiting.
  defp drain(acc, n, max) when n >= max, do: Enum.reverse(acc)

  defp drain(acc, n, max) do
    receive do
      {:scope_beam_term, term} -> drain([term | acc], n + 1, max)
    after
      0 -> Enum.reverse(acc)
    end
  end

  defp frame(term) do
    bin = :erlang.term_to_binary(term)
    [<<0, byte_size(bin)::32>>, bin]
  end

  defp now_ms, do: System.monotonic_time(:millisecond)

  defp schedule_keepalive(_socket, :infinity), do: :ok
  defp schedule_keepalive(socket, ms), do: Process.send_after(self(), {:keepalive, socket}, max(ms, 1))

  defp write(state, terms, n) do
    case state.transport.send(state.socket, Enum.map(terms, &frame/1)) do
      :ok ->
        Queue.taken(state.cfg.queue, n)
        Queue.count(state.cfg.queue, :sent, n)
        %{state | last_write: now_ms()}

      {:error, reason} ->
        # Written partly or not at all: we cannot tell which, so the batch counts as lost.
        Queue.taken(state.cfg.queue, n)
        Queue.count(state.cfg.queue, :send_failed, n)
        disconnected(state, reason)
    end
  end

  defp connect(state) do
    %{host: host, port: port, connect_timeout: timeout} = state.cfg
    transport = state.transport

    opts = [:binary, active: false, packet: :raw, nodelay: true, keepalive: true,
            send_timeout: state.cfg.send_timeout, send_timeout_close: true] ++ tls_options(state.cfg)

    with {:ok, socket} <- transport.connect(to_charlist(host), port, opts, timeout),
         :ok <- hello(transport, socket, state.cfg) do
      :ok = transport_setopts(transport, socket, active: true)
      schedule_keepalive(socket, state.cfg.keepalive_interval)

      Logger.info("scope_beam: connected to scope-pipeline at #{host}:#{port}#{if transport == :ssl, do: " (TLS)", else: ""}")

      %{state | socket: socket, attempt: 0, warned: false, last_error: nil, last_write: now_ms()}
      |> flush_buffer()
    else
      {:error, reason} -> retry(state, reason)
    end
  end

  # :ssl and :public_key are loaded only when `tls:` is set (the app does not
  # depend on them otherwise), so they are called through a variable.
  defp transport_setopts(:gen_tcp, socket, opts), do: :inet.setopts(socket, opts)
  defp transport_setopts(ssl, socket, opts), do: ssl.setopts(socket, opts)

  # The receiver's certificate is verified against `cacertfile` and its name
  # (`server_name`, default `host`): a DNS name against the certificate's DNS
  # subjectAltNames, an IP address against its IP ones. `certfile`/`keyfile`
  # present ours when the receiver requires client certificates.
  defp tls_options(%{tls: nil}), do: []

  defp tls_options(%{tls: tls, host: host}) do
    name = to_charlist(Keyword.get(tls, :server_name, host))
    https = apply(:public_key, :pkix_verify_hostname_match_fun, [:https])

    [verify: :verify_peer, cacertfile: to_charlist(tls[:cacertfile]), depth: 10,
     server_name_indication: name,
     customize_hostname_check: [match_fun: fn ref, presented -> ip_match(ref, presented) || https.(ref, presented) end]] ++
      Enum.flat_map([:certfile, :keyfile], fn k -> if tls[k], do: [{k, to_charlist(tls[k])}], else: [] end)
  end

  # OTP checks the name it was given as a DNS name only: an IP address
  # (`host: "10.0.0.5"`) is matched against the certificate's IP addresses here.
  defp ip_match({:dns_id, ref}, {:iPAddress, presented}) do
    case :inet.parse_strict_address(ref) do
      {:ok, {_, _, _, _} = ip} -> :erlang.tuple_to_list(ip) == presented
      {:ok, ip} -> Enum.flat_map(:erlang.tuple_to_list(ip), &[div(&1, 256), rem(&1, 256)]) == presented
      _ -> false
    end
  end

  defp ip_match(_ref, _presented), do: false

  defp hello(transport, socket, cfg) do
    hello =
      {:scope_hello,
       %{
         protocol: @protocol,
         node: node(),
         otp_release: List.to_string(:erlang.system_info(:otp_release)),
         elixir_version: System.version(),
         time_offset_ns: :erlang.time_offset(:nanosecond),
         native_units_per_second: :erlang.convert_time_unit(1, :second, :native),
         app: cfg.app,
         token: cfg.token
       }}

    with :ok <- transport.send(socket, frame(hello)),
         {:ok, <<0, size::32>>} <- transport.recv(socket, 5, cfg.connect_timeout),
         {:ok, body} <- transport.recv(socket, size, cfg.connect_timeout) do
      case :erlang.binary_to_term(body, [:safe]) do
        {:scope_welcome, @protocol} ->
          :ok

        {:scope_refused, reason} ->
          transport.close(socket)
          {:error, {:refused, reason}}

        other ->
          transport.close(socket)
          {:error, {:unexpected_reply, other}}
      end
    else
      {:error, reason} ->
        transport.close(socket)
        {:error, reason}

      {:ok, other} ->
        transport.close(socket)
        {:error, {:unexpected_reply, other}}
    end
  rescue
    ArgumentError ->
      transport.close(socket)
      {:error, :unreadable_reply}
  end

  defp flush_buffer(%{buffered: 0} = state), do: state

  defp flush_buffer(state) do
    {chunk, rest} = :queue.split(min(state.buffered, state.cfg.batch_size), state.buffer)
    n = :queue.len(chunk)
    state = %{state | buffer: rest, buffered: state.buffered - n}
    state = write(state, :queue.to_list(chunk), n)
    if state.socket, do: flush_buffer(state), else: state
  end

  defp disconnected(state, reason) do
    if state.socket, do: state.transport.close(state.socket)
    Logger.warning("scope_beam: lost the connection to scope-pipeline (#{inspect(reason)}); reconnecting")
    retry(%{state | socket: nil, warned: true, reconnects: state.reconnects + 1}, reason)
  end

  defp retry(state, reason) do
    %{backoff_min: min, backoff_max: max} = state.cfg

    delay =
      case reason do
        {:refused, _} -> max
        _ -> min(max, min * Integer.pow(2, min(state.attempt, 16)))
      end

    # Jitter (±20 %) so a fleet of nodes does not reconnect in step.
    delay = max(1, round(delay * (0.8 + :rand.uniform() * 0.4)))

    state =
      if state.warned do
        state
      else
        case reason do
          {:refused, why} ->
            Logger.error("scope_beam: scope-pipeline at #{state.cfg.host}:#{state.cfg.port} refused this node: #{why}")

          _ ->
            Logger.warning("scope_beam: cannot reach scope-pipeline at #{state.cfg.host}:#{state.cfg.port} (#{inspect(reason)}); retrying with backoff, events queue up to #{state.cfg.queue.max}")
        end

        %{state | warned: true}
      end

    timer = Process.send_after(self(), :connect, delay)
    %{state | attempt: state.attempt + 1, last_error: reason, timer: timer}
  end
end
