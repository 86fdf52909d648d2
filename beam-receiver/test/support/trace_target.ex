defmodule TraceTarget do
  @moduledoc false
  # Functions the call-tracing tests put patterns on (deliberately outside the
  # ScopeBeam namespace, whose modules the tracer refuses to trace).

  def add(a, b), do: a + b

  def boom(x), do: raise(ArgumentError, "boom #{x}")
end
