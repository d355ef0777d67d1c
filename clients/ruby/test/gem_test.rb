# frozen_string_literal: true

require_relative "test_helper"
require "rubygems/package"
require "open3"

# `gem build` works, and the gem holds the Lua scripts copied from src/core/queue/scripts/
# (byte for byte), which an installed copy, outside the tree, reads.
class GemTest < Minitest::Test
  SCRIPTS = File.join(TempestTest::REPO, "src", "core", "queue", "scripts")

  def test_gem_build_packs_the_scripts
    Dir.mktmpdir do |dir|
      gem = File.join(dir, "tempest.gem")
      out, status = Open3.capture2e("gem", "build", "tempest.gemspec", "--output", gem, chdir: TempestTest::CLIENT)
      assert status.success?, out
      files = Gem::Package.new(gem).spec.files
      %w[take goodbye reap retry history].each { |n| assert_includes files, "lib/tempest/scripts/#{n}.lua" }
      assert_includes files, "lib/tempest/rack.rb"
      assert_includes files, "bin/tempest-rack"

      home = File.join(dir, "home")
      out, status = Open3.capture2e("gem", "install", "--local", "--ignore-dependencies", "--no-document",
                                    "--install-dir", home, gem)
      assert status.success?, out
      installed = Dir[File.join(home, "gems", "tempest-*", "lib", "tempest", "scripts", "*.lua")].sort
      assert_equal Dir[File.join(SCRIPTS, "*.lua")].map { |f| File.basename(f) }.sort, installed.map { |f| File.basename(f) }
      installed.each { |f| assert_equal File.binread(File.join(SCRIPTS, File.basename(f))), File.binread(f) }

      env = { "GEM_PATH" => [home, *Gem.path].join(File::PATH_SEPARATOR), "TEMPEST_SCRIPTS_DIR" => nil, "RUBYLIB" => nil }
      out, status = Open3.capture2e(env, RbConfig.ruby, "-e", 'gem "tempest"; require "tempest"; print Tempest::Scripts.dir',
                                    chdir: dir)
      assert status.success?, out
      assert_equal File.join(Dir[File.join(home, "gems", "tempest-*")].first, "lib", "tempest", "scripts"), out
    end
  end

  def test_from_the_tree_the_repository_files_are_read
    assert_equal SCRIPTS, Tempest::Scripts.dir
    assert_equal File.binread(File.join(SCRIPTS, "take.lua")), Tempest::Scripts.take.source
  end

  def test_tracked_files_hold_no_copy_of_a_script
    tracked, = Open3.capture2("git", "ls-files", chdir: TempestTest::CLIENT)
    assert_empty tracked.lines.grep(/\.lua$/)
  end
end
