# The Sinatra app of the gateway benchmark (bench/run, "gateways"): `Hello world!` at /.
# Served two ways side by side: by the Rack gateway behind the front, and by Puma directly
# (puma -b tcp://127.0.0.1:PORT bench/apps/sinatra_hello.ru).
require "sinatra/base"

class Hello < Sinatra::Base
  set :environment, :production
  set :logging, false
  get "/" do
    content_type "text/plain"
    "Hello world!"
  end
end

run Hello
