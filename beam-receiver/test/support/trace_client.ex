defmodule ScopeBeam.Test.TraceClient do
  @moduledoc false
  # A minimal reader for the IP trace port, as scope-pipeline's receiver is:
  # connects to the listen port and sends every decoded frame to `owner` as
  # `{:frame, term}` (Op 0) or `{:dropped, count}` (Op 1).
  #
  # Only use it with explicit pid targets: under `processes: :all` the reader
  # itself would be traced and every frame it reads would make another one.

  def connect(listen_port, owner \\ self()) do
    {:ok, sock} =
      :gen_tcp.connect({127, 0, 0, 1}, listen_port, [:binary, active: false, packet: :raw], 2_000)

    pid = spawn_link(fn -> receive(do: (:go -> loop(sock, owner, <<>>))) end)
    :ok = :gen_tcp.controlling_process(sock, pid)
    send(pid, :go)
    pid
  end

  @doc "Splits a buffer into complete frames and the unconsumed rest."
  def decode(buffer, acc \\ [])

  def decode(<<0, size::32, bin::binary-size(size), rest::binary>>, acc),
    do: decode(rest, [{:frame, :erlang.binary_to_term(bin)} | acc])

  def decode(<<1, dropped::32, rest::binary>>, acc), do: decode(rest, [{:dropped, dropped} | acc])
  def decode(rest, acc), do: {Enum.reverse(acc), rest}

  defp loop(sock, owner, buffer) do
    case :gen_tcp.recv(sock, 0) do
      {:ok, data} ->
        {frames, rest} = decode(buffer <> data)
        Enum.each(frames, &send(owner, &1))
        loop(sock, owner, rest)

      {:error, _} ->
        :ok
    end
  end
end
