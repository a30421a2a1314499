-- wrk -s bench/pipeline.lua URL: HTTP/1.1 pipelining, PIPELINE_DEPTH
-- requests (default 16) sent back to back on each connection before
-- reading the responses. wrk counts every response as one request.
local depth = tonumber(os.getenv("PIPELINE_DEPTH") or "16")
local batch

init = function(args)
    local r = {}
    for i = 1, depth do
        r[i] = wrk.format(nil, wrk.path)
    end
    batch = table.concat(r)
end

request = function()
    return batch
end
