defmodule ScopeBeam do
  @moduledoc """
  The BEAM side of scope-pipeline: plain OTP + Elixir, no dependencies.

    * `ScopeBeam.Tracer` — a safe front end for OTP's IP trace port (rate and
      time limits, auto-stop, dangerous-pattern guard, clock-sync frames),
      read by scope-pipeline's `beam_trace_port` receiver.
  """
end
