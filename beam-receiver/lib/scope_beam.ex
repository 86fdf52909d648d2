defmodule ScopeBeam do
  @moduledoc """
  The BEAM side of scope-pipeline: plain OTP + Elixir, no dependencies.

    * `attach/1` — one call in the application: forwards Phoenix, LiveView,
      Ecto and Broadway `:telemetry` events, process samples and watched
      GenServers' state changes to scope-pipeline's `beam_telemetry`
      receiver (`ScopeBeam.Forwarder`).
    * `watch/2` — GenServer state history (`ScopeBeam.Watch`).
    * `ScopeBeam.Tracer` — a safe front end for OTP's IP trace port (rate and
      time limits, auto-stop, dangerous-pattern guard, clock-sync frames),
      read by scope-pipeline's `beam_trace_port` receiver.
  """

  @doc """
  Starts the forwarder (supervised, reconnecting, never blocking the
  application), e.g. `ScopeBeam.attach(host: "127.0.0.1", port: 4712, app: :shop)`.
  Options and defaults: see the README or `ScopeBeam.Forwarder.defaults/0`.
  """
  defdelegate attach(opts \\ []), to: ScopeBeam.Forwarder

  @doc "Stops the forwarder: handlers detached, its watches removed, the connection closed."
  defdelegate detach(), to: ScopeBeam.Forwarder

  @doc "The forwarder's counters (sent, queued, dropped by reason, connected, reconnects)."
  defdelegate stats(), to: ScopeBeam.Forwarder

  @doc "Reports each message a GenServer handles with its old and new state (`state.change`)."
  defdelegate watch(target, opts \\ []), to: ScopeBeam.Watch

  @doc "Stops reporting a GenServer's state changes."
  defdelegate unwatch(target), to: ScopeBeam.Watch
end
