defmodule ScopeBeam.Forwarder.Sender do
  @moduledoc false
  # Owns the TCP connection to scope-pipeline's beam_telemetry receiver:
  # connects, says hello (protocol 1), then writes the terms offered to the
  # queue as frames `<<0, Size::32, term_to_binary(Term)::binary>>`, many per
  # write. While not connected it keeps what arrives (the queue's bound holds)
  # and reconnects with exponential backoff and jitter. A refused hello (wrong
  # token or protocol) is logged with the receiver's reason and retried at the
  # longest backoff.

  use GenServer
  require Logger

  alias ScopeBeam.Forwarder.Queue

  @protocol 1

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

    state = %{
      cfg: cfg,
      socket: nil,
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

  def handle_info({:tcp_closed, socket}, %{socket: socket} = state) do
    {:noreply, disconnected(state, :closed_by_receiver)}
  end

  def handle_info({:tcp_error, socket, reason}, %{socket: socket} = state) do
    {:noreply, disconnected(state, reason)}
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
       endpoint: "#{state.cfg.host}:#{state.cfg.port}"
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

    if state.socket, do: :gen_tcp.close(state.socket)
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

  defp write(state, terms, n) do
    case :gen_tcp.send(state.socket, Enum.map(terms, &frame/1)) do
      :ok ->
        Queue.taken(state.cfg.queue, n)
        Queue.count(state.cfg.queue, :sent, n)
        state

      {:error, reason} ->
        # Written partly or not at all: we cannot tell which, so the batch counts as lost.
        Queue.taken(state.cfg.queue, n)
        Queue.count(state.cfg.queue, :send_failed, n)
        disconnected(state, reason)
    end
  end

  defp connect(state) do
    %{host: host, port: port, connect_timeout: timeout} = state.cfg

    opts = [:binary, active: false, packet: :raw, nodelay: true, keepalive: true,
            send_timeout: state.cfg.send_timeout, send_timeout_close: true]

    with {:ok, socket} <- :gen_tcp.connect(to_charlist(host), port, opts, timeout),
         :ok <- hello(socket, state.cfg) do
      :ok = :inet.setopts(socket, active: true)

      Logger.info("scope_beam: connected to scope-pipeline at #{host}:#{port}")

      %{state | socket: socket, attempt: 0, warned: false, last_error: nil}
      |> flush_buffer()
    else
      {:error, reason} -> retry(state, reason)
    end
  end

  defp hello(socket, cfg) do
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

    with :ok <- :gen_tcp.send(socket, frame(hello)),
         {:ok, <<0, size::32>>} <- :gen_tcp.recv(socket, 5, cfg.connect_timeout),
         {:ok, body} <- :gen_tcp.recv(socket, size, cfg.connect_timeout) do
      case :erlang.binary_to_term(body, [:safe]) do
        {:scope_welcome, @protocol} ->
          :ok

        {:scope_refused, reason} ->
          :gen_tcp.close(socket)
          {:error, {:refused, reason}}

        other ->
          :gen_tcp.close(socket)
          {:error, {:unexpected_reply, other}}
      end
    else
      {:error, reason} ->
        :gen_tcp.close(socket)
        {:error, reason}

      {:ok, other} ->
        :gen_tcp.close(socket)
        {:error, {:unexpected_reply, other}}
    end
  rescue
    ArgumentError ->
      :gen_tcp.close(socket)
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
    if state.socket, do: :gen_tcp.close(state.socket)
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
