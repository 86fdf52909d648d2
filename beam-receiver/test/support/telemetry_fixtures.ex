defmodule ScopeBeam.TelemetryFixtures do
  @moduledoc false
  # Metadata shaped as Phoenix 1.7, LiveView 0.20/1.0, Ecto 3 and Broadway 1.x
  # emit it (field names from their telemetry docs and structs). The structs are
  # maps with a `__struct__` key: what a handler sees at run time, without
  # needing those libraries here (hex is not reachable, and scope_beam has no deps).

  @secret_cookie "_shop_key=SFMyNTY.g3QAAAABbQAAAAtfY3NyZl90b2tlbm0AAAAY"

  def secret_cookie, do: @secret_cookie

  def conn(overrides \\ %{}) do
    Map.merge(
      %{
        __struct__: Plug.Conn,
        adapter: {Plug.Cowboy.Conn, :cowboy_req_placeholder},
        assigns: %{current_user: %{email: "ada@example.com", hashed_password: "$2b$12$abc"}},
        body_params: %{"user" => %{"email" => "ada@example.com", "password" => "hunter2"}},
        cookies: %{"_shop_key" => "SFMyNTY"},
        halted: false,
        host: "shop.example.com",
        method: "POST",
        owner: self(),
        params: %{"user" => %{"email" => "ada@example.com", "password" => "hunter2"}},
        path_info: ["users", "log_in"],
        path_params: %{},
        port: 443,
        private: %{
          phoenix_controller: ShopWeb.UserSessionController,
          phoenix_action: :create,
          phoenix_router: ShopWeb.Router,
          phoenix_endpoint: ShopWeb.Endpoint,
          phoenix_format: "html",
          plug_session: %{"user_token" => <<1, 2, 3>>}
        },
        query_params: %{"return_to" => "/cart"},
        query_string: "return_to=/cart&token=abc",
        remote_ip: {10, 1, 2, 3},
        req_cookies: %{"_shop_key" => "SFMyNTY"},
        req_headers: [
          {"cookie", @secret_cookie},
          {"authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"},
          {"user-agent", "Mozilla/5.0 (X11; Linux x86_64)"},
          {"x-request-id", "F7r1nq2k"}
        ],
        request_path: "/users/log_in",
        resp_body: nil,
        resp_cookies: %{},
        resp_headers: [{"cache-control", "max-age=0"}, {"x-request-id", "F7r1nq2k"}, {"set-cookie", @secret_cookie}],
        scheme: :https,
        script_name: [],
        secret_key_base: "a-very-secret-key-base",
        state: :sent,
        status: 302
      },
      overrides
    )
  end

  def live_socket(overrides \\ %{}) do
    Map.merge(
      %{
        __struct__: Phoenix.LiveView.Socket,
        id: "phx-F7r1nq2kXyz",
        endpoint: ShopWeb.Endpoint,
        view: ShopWeb.CartLive,
        parent_pid: nil,
        root_pid: self(),
        router: ShopWeb.Router,
        assigns: %{__changed__: %{}, current_user: %{email: "ada@example.com"}, flash: %{}},
        private: %{connect_params: %{"_csrf_token" => "csrf-secret"}, connect_info: %{session: %{"user_token" => "tok"}}},
        fingerprints: {nil, %{}},
        redirected: nil,
        host_uri: %{__struct__: URI, host: "shop.example.com", scheme: "https"},
        transport_pid: self()
      },
      overrides
    )
  end

  def channel_socket do
    %{
      __struct__: Phoenix.Socket,
      assigns: %{user_token: "secret-token"},
      channel: ShopWeb.RoomChannel,
      channel_pid: self(),
      endpoint: ShopWeb.Endpoint,
      handler: ShopWeb.UserSocket,
      id: "users_socket:42",
      joined: true,
      join_ref: "1",
      private: %{},
      pubsub_server: Shop.PubSub,
      ref: "2",
      serializer: Phoenix.Socket.V2.JSONSerializer,
      topic: "room:lobby",
      transport: :websocket,
      transport_pid: self()
    }
  end

  def ecto_query_metadata(overrides \\ %{}) do
    Map.merge(
      %{
        type: :ecto_sql_query,
        repo: Shop.Repo,
        result:
          {:ok,
           %{__struct__: Postgrex.Result, command: :select, columns: ["id", "email"], rows: [[1, "ada@example.com"], [2, "bob@example.com"]],
             num_rows: 2, connection_id: 4242, messages: []}},
        params: ["ada@example.com", "hunter2"],
        cast_params: ["ada@example.com", "hunter2"],
        query: ~s{SELECT u0."id", u0."email" FROM "users" AS u0 WHERE (u0."email" = $1) AND (u0."password" = $2)},
        source: "users",
        stacktrace: nil,
        options: []
      },
      overrides
    )
  end

  def ecto_measurements do
    native = :erlang.convert_time_unit(1, :millisecond, :native)
    %{decode_time: div(native, 10), query_time: 3 * native, queue_time: div(native, 2), idle_time: 100 * native,
      total_time: 3 * native + div(native, 10) + div(native, 2)}
  end

  def broadway_message(overrides \\ %{}) do
    Map.merge(
      %{
        __struct__: Broadway.Message,
        data: %{"card_number" => "4111111111111111"},
        metadata: %{headers: [{"authorization", "secret"}]},
        acknowledger: {Broadway.NoopAcknowledger, nil, nil},
        batcher: :default,
        batch_key: :default,
        batch_mode: :bulk,
        status: :ok
      },
      overrides
    )
  end

  def batch_info do
    %{__struct__: Broadway.BatchInfo, batcher: :default, batch_key: :default, partition: nil, size: 2, trigger: :size}
  end
end

defmodule Shop.Repo do
  @moduledoc false
  # What an Ecto repo answers about its adapter (Ecto.Repo defines __adapter__/0).
  def __adapter__, do: Ecto.Adapters.Postgres
end
