# frozen_string_literal: true

require_relative "sinatra_app"
run SinatraApp
