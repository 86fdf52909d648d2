defmodule ScopeBeam.Tracer.TracePort do
  @moduledoc false
  # The OTP IP trace port (runtime_tools' trace_ip_drv), opened exactly as
  # `dbg:trace_port(ip, {Port, QueueSize})` does — we call that very function.
  #
  # Wire format written by the driver, one frame per message:
  #   <<0, Size::32-big, TermBinary::binary-size(Size)>>  (Op 0: a term)
  #   <<1, Dropped::32-big>>                              (Op 1: drop count)
  # The driver listens on 0.0.0.0:Port, accepts one client at a time, and
  # (flag 2, as dbg opens it) queues up to QueueSize messages even while no
  # client is connected, dropping the newest ones when the queue is full.

  @doc "Opens the trace port in the calling process (which becomes its owner)."
  def open(port_no, queue_size) do
    {:ok, :dbg.trace_port(:ip, {port_no, queue_size}).()}
  catch
    kind, reason -> {:error, {:port_open_failed, port_no, {kind, reason}}}
  end

  @doc "The TCP port the driver listens on (the real one when opened with 0)."
  def listen_port(port) do
    # `dbg:trace_port_control(Node, get_listen_port)` goes through the dbg
    # server; this is the driver's own control call it ends up in.
    case :erlang.port_control(port, ?p, []) do
      <<0, listen_port::16>> -> {:ok, listen_port}
      other -> {:error, {:get_listen_port, other}}
    end
  catch
    kind, reason -> {:error, {:get_listen_port, {kind, reason}}}
  end

  @doc """
  Writes `term` into the port; the driver frames it exactly like a trace
  message (`<<0, Size::32, TermBinary>>`). Returns the bytes written.
  """
  def write_term(port, term) do
    bin = :erlang.term_to_binary(term)
    :erlang.port_command(port, bin)
    {:ok, byte_size(bin)}
  catch
    kind, reason -> {:error, {kind, reason}}
  end

  @doc "Bytes handed to the driver so far (every trace message + our writes)."
  def output_bytes(port) do
    case :erlang.port_info(port, :output) do
      {:output, n} -> n
      nil -> nil
    end
  end

  def close(port) do
    :erlang.port_close(port)
    :ok
  catch
    _, _ -> :ok
  end
end
