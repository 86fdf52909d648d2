defmodule ScopeBeam.MixProject do
  use Mix.Project

  # No dependencies at all (no hex packages, not even :telemetry): the shim is
  # dropped into production nodes and must build offline on OTP 25+ / Elixir 1.14+.
  def project do
    [
      app: :scope_beam,
      version: "0.1.0",
      elixir: "~> 1.14",
      elixirc_paths: elixirc_paths(Mix.env()),
      # A stand-in for the :telemetry library, for tests (see test/support/telemetry.erl).
      erlc_paths: if(Mix.env() == :test, do: ["test/support"], else: []),
      start_permanent: Mix.env() == :prod
    ]
  end

  def application do
    # :runtime_tools ships the trace_ip driver (priv/lib/trace_ip_drv.so) and dbg.
    [extra_applications: [:logger, :runtime_tools]]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]
end
