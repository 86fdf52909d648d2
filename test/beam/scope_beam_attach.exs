# Attach scenario for the scope_beam end-to-end test: a worker process traced by
# ScopeBeam.Tracer through the IP trace port. Protocol on stdout:
#   port <P>, then (after "go" on stdin) pid/time lines, then "done"; "stop" ends the node.
parent = self()

worker =
  spawn(fn ->
    receive do
      :go ->
        peer = spawn(fn -> receive do {:hello, from} -> send(from, :hi) end end)
        t0 = System.os_time(:nanosecond)
        send(peer, {:hello, self()})
        t1 = System.os_time(:nanosecond)
        receive do :hi -> :ok end
        send(parent, {:done, peer, t0, t1})
        receive do :never -> :ok end
    end
  end)

{:ok, info} =
  ScopeBeam.Tracer.start(
    port: 0,
    processes: [worker],
    flags: [:send, :receive, :procs],
    timestamp: :monotonic_timestamp,
    max_duration: 30_000
  )

IO.puts("port #{info.port}")
IO.puts("pid worker #{inspect(worker) |> String.replace("#PID", "")}")
"go\n" = IO.gets("")
send(worker, :go)

receive do
  {:done, peer, t0, t1} ->
    IO.puts("pid peer #{inspect(peer) |> String.replace("#PID", "")}")
    IO.puts("time before #{t0}")
    IO.puts("time after #{t1}")
end

Process.sleep(300)
IO.puts("done")
"stop\n" = IO.gets("")
:ok = ScopeBeam.Tracer.stop()
