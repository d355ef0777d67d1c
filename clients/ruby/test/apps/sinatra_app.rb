# frozen_string_literal: true

# The Sinatra application the Rack gateway tests serve (test/rack_test.rb, config.ru).
require "sinatra/base"
require "json"
require "digest"

class SinatraApp < Sinatra::Base
  set :show_exceptions, false
  set :raise_errors, false
  set :dump_errors, false
  set :host_authorization, { permitted_hosts: [] } if respond_to?(:host_authorization)

  get "/" do
    "Hello from Sinatra"
  end

  get "/hello/:name" do
    "Hello #{params[:name]}! q=#{params[:q]}"
  end

  get "/json" do
    content_type :json
    JSON.generate({ "ok" => true, "path" => request.path, "host" => request.host, "port" => request.port,
                    "ip" => request.ip, "script_name" => request.script_name, "ua" => request.user_agent })
  end

  post "/echo-json" do
    content_type :json
    data = JSON.parse(request.body.read)
    JSON.generate({ "got" => data, "type" => request.media_type, "length" => request.content_length })
  end

  post "/form" do
    "name=#{params[:name]} city=#{params[:city]}"
  end

  get "/cookies/set" do
    response.set_cookie("a", "1")
    response.set_cookie("b", { value: "2", path: "/" })
    "set"
  end

  get "/cookies/read" do
    "a=#{request.cookies['a']} b=#{request.cookies['b']}"
  end

  get "/boom" do
    raise "kaboom"
  end

  get "/unicode" do
    content_type "text/plain", charset: "utf-8"
    "héllo wörld ✓ 日本"
  end

  get "/binary" do
    content_type "application/octet-stream"
    (0..255).map(&:chr).join.b
  end

  post "/upload-bytes" do
    data = request.body.read
    content_type "text/plain"
    "#{data.bytesize} #{data.bytes.sum} #{data.encoding}"
  end

  get "/redirect" do
    redirect to("/hello/redirected")
  end

  get "/halt" do
    halt 418, { "X-Teapot" => "yes" }, "short and stout"
  end

  # Streamed (protocol.md 12.5): each `out <<` is a chunk sent as it comes.
  get "/stream" do
    content_type "text/plain"
    stream do |out|
      out << "first\n"
      sleep 0.4
      out << "second\n"
      sleep 0.4
      out << "third\n"
    end
  end

  # Reads rack.input in pieces (a spooled upload's File, never loaded whole).
  post "/sha256" do
    input = request.body
    d = Digest::SHA256.new
    n = 0
    while (piece = input.read(65_536))
      n += piece.bytesize
      d << piece
    end
    ctx = env["tempest.context"]
    content_type :json
    JSON.generate({ "sha256" => d.hexdigest, "read" => n, "content_length" => request.content_length.to_i,
                    "io" => ctx.body_io.class.name, "body_file" => ctx.body_file&.to_h&.transform_keys(&:to_s),
                    "inline" => ctx.body.bytesize })
  end
end
