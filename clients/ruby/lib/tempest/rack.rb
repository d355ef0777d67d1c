# frozen_string_literal: true

require "stringio"
require "rack"
require "tempest"

# The Rack gateway: serves any Rack application as a Tempest worker. Each "url" job becomes a
# Rack environment (Rack 2.2 SPEC), the application's [status, headers, body] becomes the
# answer (body.each collected, then body.close). Whole answers only: the tree has no streamed
# answer yet, so a streaming body is collected before it is sent.
#
#   require "tempest/rack"
#   Tempest::Rack.worker(app, queue: "web").run
#   # or: bin/tempest-rack config.ru --queue web [--redis URL] [--concurrency N] [--mode plain]
#
# The environment:
#   REQUEST_METHOD, SCRIPT_NAME "", PATH_INFO (the job's normalised path, protocol.md 1.7),
#   QUERY_STRING, SERVER_NAME and SERVER_PORT (from Host; "localhost" and "80" without one),
#   SERVER_PROTOCOL ("HTTP/1.1"), REMOTE_ADDR, REQUEST_URI (the target as received),
#   HTTP_<NAME> per request header (a name with "_" is dropped when the same name with "-" is
#   there, as Puma and nginx do, so it cannot pose as it), CONTENT_TYPE, CONTENT_LENGTH (the
#   body's size when there is a body), rack.input (a binary StringIO), rack.errors ($stderr),
#   rack.version, rack.url_scheme ("http"; "https" when X-Forwarded-Proto says so), rack.multithread
#   (concurrency > 1), rack.multiprocess true, rack.run_once false, rack.hijack? false,
#   tempest.context (the Tempest::Context).
# Response headers: a value holding "\n" is several fields (Rack 2's way of writing repeated
# Set-Cookie), sent as an array.
module Tempest
  module Rack
    class Gateway
      def initialize(app, multithread: false)
        @app = app
        @multithread = multithread
      end

      def call(ctx, _env = nil)
        status, headers, body = @app.call(env_for(ctx))
        [status.to_i, answer_headers(headers), collect(body)]
      end

      def env_for(ctx)
        body = ctx.body
        input = StringIO.new(body ? body.b : +"".b)
        input.set_encoding(Encoding::BINARY)
        name, port = server_name_port(ctx.header("host"))
        env = {
          "REQUEST_METHOD" => ctx.method,
          "SCRIPT_NAME" => "",
          "PATH_INFO" => ctx.path,
          "QUERY_STRING" => ctx.query,
          "SERVER_NAME" => name,
          "SERVER_PORT" => port,
          "SERVER_PROTOCOL" => "HTTP/#{ctx.http_version}",
          "REQUEST_URI" => ctx.url,
          "rack.version" => ::Rack::VERSION,
          "rack.input" => input,
          "rack.errors" => $stderr,
          "rack.multithread" => @multithread,
          "rack.multiprocess" => true,
          "rack.run_once" => false,
          "rack.url_scheme" => ctx.header("x-forwarded-proto") == "https" ? "https" : "http",
          "rack.hijack?" => false,
          "tempest.context" => ctx
        }
        addr = ctx.remote_addr.to_s.sub(/:\d+\z/, "").delete_prefix("[").delete_suffix("]")
        env["REMOTE_ADDR"] = addr unless addr.empty?
        add_headers(env, ctx.headers || {})
        env["CONTENT_LENGTH"] = body.bytesize.to_s if body
        env
      end

      private

      def add_headers(env, headers)
        dashed = headers.keys.reject { |k| k.include?("_") }.to_h { |k| [k.tr("-", "_"), true] }
        headers.each do |k, v|
          next if k.include?("_") && dashed[k]
          case k
          when "content-type" then env["CONTENT_TYPE"] = v
          when "content-length" then env["CONTENT_LENGTH"] = v
          else env["HTTP_#{k.upcase.tr('-', '_')}"] = v
          end
        end
      end

      def server_name_port(host)
        return %w[localhost 80] if host.nil? || host.empty?
        if (m = host.match(/\A(\[[^\]]*\])(?::(\d+))?\z/) || host.match(/\A([^:]*)(?::(\d+))?\z/))
          return [m[1], m[2] || "80"]
        end
        [host, "80"]
      end

      def answer_headers(headers)
        out = {}
        headers.each do |k, v|
          next if k.to_s.start_with?("rack.")
          values = v.is_a?(Array) ? v : v.to_s.split("\n")
          out[k.to_s] = values.size == 1 ? values[0] : values
        end
        out
      end

      def collect(body)
        buf = +"".b
        body.each { |chunk| buf << chunk.to_s.b }
        buf
      ensure
        body.close if body.respond_to?(:close)
      end
    end

    module_function

    # A Worker serving app (options as Tempest::Worker's).
    def worker(app, **options)
      gateway = Gateway.new(app, multithread: options.fetch(:concurrency, 1).to_i > 1)
      Worker.new(**options).on(:url) { |ctx, env| gateway.call(ctx, env) }
    end

    # The application of a rackup file (config.ru).
    def load(config_ru)
      app, = ::Rack::Builder.parse_file(config_ru)
      app
    end
  end
end
