# frozen_string_literal: true

require "stringio"
require "rack"
require "tempest"

# The Rack gateway: serves any Rack application as a Tempest worker. Each "url" job becomes a
# Rack environment (Rack 2.2 SPEC), the application's [status, headers, body] becomes the
# answer (protocol.md 12.5):
#   - a body that is an Array (or answers to_ary: a Rack::BodyProxy over an Array; under
#     Rack::Lint, the body it wraps) is one answer: body.each collected, then body.close;
#   - any other body (Sinatra's `stream do |out| ... end`, an Enumerator, a Rack::BodyProxy over
#     one, a file body) is a streamed answer (Tempest::Stream): the head goes at once, each item
#     of body.each is one chunk as it comes, then body.close; a client that leaves stops the
#     iteration (the write returns false: the gateway breaks out of each).
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
#   body's size when there is a body), rack.input (a binary StringIO over the inline body, or
#   the File of a body the front spooled, protocol.md 11, never read into memory: CONTENT_LENGTH
#   is then the file's size; closed after the response), rack.errors ($stderr),
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
        return [status.to_i, answer_headers(headers), collect(body)] if whole?(body)
        stream(ctx, status.to_i, answer_headers(headers), body)
        nil # the handler's return ends the stream
      end

      def env_for(ctx)
        body = ctx.body
        input = ctx.body_io
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
        env["CONTENT_LENGTH"] = ctx.body_size.to_s if body
        env
      end

      # One answer for an Array body (or one that answers to_ary); a stream for any other.
      def whole?(body)
        return true if body.is_a?(Array) || body.respond_to?(:to_ary)
        # Rack 2's Lint hides the body it checks (no to_ary): look at that one.
        if body.is_a?(::Rack::Lint) && body.instance_variable_defined?(:@body)
          inner = body.instance_variable_get(:@body)
          return inner.is_a?(Array) || inner.respond_to?(:to_ary)
        end
        false
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

      def stream(ctx, status, headers, body)
        out = ctx.stream(status, headers)
        begin
          body.each do |chunk|
            break unless out.write(chunk)
          end
        ensure
          body.close if body.respond_to?(:close)
        end
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
