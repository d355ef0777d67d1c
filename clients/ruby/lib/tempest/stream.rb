# frozen_string_literal: true

require "json"
require "digest"

# Streamed answers (protocol.md 10 and 12.1-12.2) and spooled request bodies (11, 12.4).
#
#   worker.on :url do |ctx, env|
#     out = ctx.stream(200, { "Content-Type" => "text/plain" })   # the head goes now
#     10.times { |i| break unless out.write("line #{i}\n") }      # false: the client left (out.error)
#     out.end                                                      # or return: the return ends it
#   end
#
#   ref = ctx.stream(200, {}).keep          # a hanging GET: the return no longer ends it
#   worker.chunk_many(refs, "news\n")       # later, from any thread (Tempest::Fanout)
#
# A Stream's commands go on the lane's answer connection to the job's respond_to (answer_pool.rb:
# `stream <id> <head>`, `chunk <id> <bytes>` as a RESP bulk string, `end <id>`), pipelined with at
# most 1 MiB unacknowledged: the write after that waits for the front's replies, so a slow HTTP
# client blocks the writer (10.4). It is used by the handler's thread, during the handler call.
module Tempest
  # A stream (or a job) kept past its handler (Stream#keep, Context#keep), for the calls of
  # Tempest::Fanout (Worker#chunk_many, #end_many, #answer_many).
  StreamRef = Struct.new(:respond_to, :job_id) do
    def to_s = "#{respond_to}/#{job_id}"
  end

  # A request body the front spooled to a file (protocol.md 11.2): its absolute path, its size in
  # bytes, the lower-case hex SHA-256 of its content. Read it; never write, move or remove it (the
  # front removes it once the request is done).
  BodyFile = Struct.new(:path, :size, :sha256) do
    # The file opened for reading, binary (a block gets it and closes it after).
    def open(&block) = File.open(path, "rb", &block)

    # Hashes the file again and compares with the front's digest.
    def verify? = Digest::SHA256.file(path).hexdigest == sha256
  end

  class Stream
    # Why the stream is over when !ok? (e.g. "ERR no open stream 42 (... or the client left)").
    attr_reader :error

    # Sent by Context#stream; the head goes at once.
    def initialize(lane, job, status, headers, body, refused: nil)
      @lane = lane
      @job = job
      @state = :open
      @kept = false
      @done = false # the handler returned: later writes go through Fanout
      @error = nil
      return fail!(refused) if refused
      return fail!("the job has no respond_to: nobody to stream to") unless job.respond_to && lane
      head = Answer.encode_head(status, headers)
      return unless command("stream", head)
      write(body) unless body.nil?
    end

    # Sends bytes (a String, any bytes) as one chunk. true once written; false when the stream is
    # over (the client left, the front cut it, its front is unreachable: #error says which), and
    # every call after that. An empty write sends nothing.
    def write(bytes)
      return false unless writable?
      data = bytes.to_s
      return true if data.empty?
      command("chunk", data.encoding == Encoding::BINARY ? data : data.b)
    end

    # write, returning self (out << "a" << "b"); a failed write shows in ok? and error.
    def <<(bytes)
      write(bytes)
      self
    end

    # Completes the response (the handler's return does it for a stream not kept). false as write.
    def end
      return false unless writable?
      ok = command("end", nil)
      @state = :ended if ok
      ok
    end
    alias close end
    alias finish end

    # Gives up (protocol.md 10.9): the front closes the client's connection with the body cut
    # short at once, so the client knows it is incomplete. The stream is failed afterwards.
    def abort
      return false unless writable?
      command("abort", nil)
      fail!("aborted") if ok?
      true
    end

    def ok? = @state != :failed
    def ended? = @state == :ended
    def kept? = @kept
    # Open: neither ended nor failed.
    def open? = @state == :open
    def job_id = @job.id

    # Keeps the stream past the handler (hanging GETs, 12.2): waits until the front has taken
    # what was sent so far (so that a later chunk_many, on another connection, comes after it)
    # and returns its StreamRef; the handler's return then does not end it. nil when the stream
    # failed (error says why).
    def keep
      return nil unless ok? && @job.respond_to && @lane
      if (why = @lane.settle_stream(@job))
        fail!(why)
        return nil
      end
      @kept = true
      StreamRef.new(@job.respond_to, @job.id).freeze
    end

    # From the lane when the handler returned: ends a stream it neither ended nor kept; one
    # whose handler failed is aborted (the client gets the cut body at once, protocol.md 10.9).
    def handler_returned(failed)
      if failed
        abort if open? && !@kept
      elsif open? && !@kept
        self.end
      end
      @done = true
    end

    def inspect = "#<Tempest::Stream job=#{@job.id} #{@state}#{@kept ? ' kept' : ''}#{@error ? " error=#{@error.inspect}" : ''}>"

    private

    def writable?
      return false unless @state == :open
      return true unless @done
      @error ||= "the handler returned: write a kept stream with chunk_many/end_many"
      false
    end

    def command(name, payload)
      why = @lane.send_stream(@job, name, payload)
      return true unless why
      fail!(why)
    end

    def fail!(why)
      @state = :failed
      @error = why
      Tempest.logger.debug("[j#{@job.id}] stream over: #{why}")
      false
    end
  end
end
