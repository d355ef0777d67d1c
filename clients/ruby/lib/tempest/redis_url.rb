# frozen_string_literal: true

require "uri"
require "redis"

# Redis URLs as every Tempest program takes them (protocol.md 5.2):
# redis://[[user]:password@]host[:port][/db] and unix:/path[?db=N], turned into Redis.new options.
module Tempest
  module RedisURL
    module_function

    def options(url)
      url = url.to_s
      url = "redis://127.0.0.1:6379/0" if url.empty?
      if url.start_with?("unix:")
        path, query = url.delete_prefix("unix:").delete_prefix("//").split("?", 2)
        db = query.to_s[/(?:\A|&)db=(\d+)/, 1]
        return { path: path, db: db ? db.to_i : 0 }
      end
      u = URI.parse(url)
      raise ArgumentError, "not a redis:// or unix: URL: #{url}" unless u.scheme == "redis"
      o = { host: u.host || "127.0.0.1", port: u.port || 6379 }
      o[:db] = u.path.delete_prefix("/").to_i unless u.path.to_s.delete_prefix("/").empty?
      o[:username] = URI.decode_www_form_component(u.user) if u.user && !u.user.empty?
      o[:password] = URI.decode_www_form_component(u.password) if u.password
      o
    end

    # A client for url with the given timeouts (seconds).
    def client(url, connect_timeout: 2, timeout: 6)
      Redis.new(**options(url), connect_timeout: connect_timeout, read_timeout: timeout, write_timeout: timeout)
    end
  end
end
