# frozen_string_literal: true

# A Sinatra hello world, the same app under the Rack gateway and under an ordinary server:
#   clients/ruby/bin/tempest-rack clients/ruby/examples/rack/config.ru --queue web -E production
#   rackup -s webrick -E production clients/ruby/examples/rack/config.ru   (or puma)
require "sinatra/base"

class Hello < Sinatra::Base
  get "/" do
    content_type "text/plain"
    "Hello world!"
  end

  get "/hello/:name" do
    content_type "text/plain"
    "Hello #{params[:name]}!"
  end
end

run Hello
