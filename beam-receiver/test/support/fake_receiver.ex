defmodule ScopeBeam.FakeReceiver do
  @moduledoc false
  # The receiver's side of protocol 1, for the forwarder's ExUnit tests: a
  # 127.0.0.1 listener that reads frames `<<0, Size::32, Term>>`. The real
  # receiver (scope-pipeline's beam_telemetry) is exercised by the Node
  # integration tests in test/beam/scope_beam_forwarder.test.ts.

  def listen(port \\ 0) do
    {:ok, lsock} = :gen_tcp.listen(port, [:binary, active: false, packet: :raw, reuseaddr: true, ip: {127, 0, 0, 1}])
    {:ok, port} = :inet.port(lsock)
    {lsock, port}
  end

  @doc "Accepts one forwarder, reads its hello and answers `reply` (a term)."
  def accept(lsock, reply \\ {:scope_welcome, 1}, timeout \\ 5_000) do
    {:ok, sock} = :gen_tcp.accept(lsock, timeout)
    {:ok, hello} = read(sock, timeout)
    :ok = :gen_tcp.send(sock, frame(reply))
    {sock, hello}
  end

  def frame(term) do
    bin = :erlang.term_to_binary(term)
    <<0, byte_size(bin)::32, bin::binary>>
  end

  def read(sock, timeout \\ 5_000) do
    with {:ok, <<0, size::32>>} <- :gen_tcp.recv(sock, 5, timeout),
         {:ok, body} <- :gen_tcp.recv(sock, size, timeout) do
      {:ok, :erlang.binary_to_term(body)}
    end
  end

  @doc "The next term matching `fun`, skipping others (sampler points, for instance)."
  def read_until(sock, fun, timeout \\ 5_000) do
    case read(sock, timeout) do
      {:ok, term} -> if fun.(term), do: {:ok, term}, else: read_until(sock, fun, timeout)
      error -> error
    end
  end
end
