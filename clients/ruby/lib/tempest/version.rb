# frozen_string_literal: true

module Tempest
  VERSION = "0.1.0"
end
