"""`v2xbox exi decode|encode`."""
import io
import json
import os
import subprocess
import sys

from host_tools.cli import main

VECTOR = "809a02000000000000000011d01a121dc983cd6000"
VECTOR_JSON = {"V2G_Message": {"Header": {"SessionID": "0000000000000000"},
                               "Body": {"SessionSetupReq": {"EVCCID": "84877260F358"}}}}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(argv, stdin=""):
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        rc = main(argv)
    finally:
        sys.stdin, sys.stdout, sys.stderr = old
    return rc, out.getvalue(), err.getvalue()


def test_decode_prints_json():
    rc, out, err = run(["exi", "decode", "--schema", "din", VECTOR])
    assert rc == 0 and err == ""
    assert json.loads(out) == VECTOR_JSON


def test_encode_prints_hex():
    rc, out, _ = run(["exi", "encode", "--schema", "din", json.dumps(VECTOR_JSON)])
    assert rc == 0
    assert out.strip() == VECTOR


def test_bad_hex_and_bad_exi_fail_with_message():
    for arg in ("zz", "80", "809a02", ""):
        rc, out, err = run(["exi", "decode", "--schema", "din", arg])
        assert rc != 0 and out == "" and "v2xbox exi decode" in err


def test_bad_json_and_invalid_message_fail_with_message():
    for arg in ("{", '{"V2G_Message": {}}', '{"Nope": 1}', "[]"):
        rc, out, err = run(["exi", "encode", "--schema", "din", arg])
        assert rc != 0 and out == "" and err


def test_stdin_mode_one_result_per_line_and_goes_on():
    lines = [VECTOR, "zz", "809a02", VECTOR]
    rc, out, _ = run(["exi", "decode", "--schema", "din", "-"], "\n".join(lines) + "\n")
    res = [json.loads(x) for x in out.splitlines()]
    assert rc == 0 and len(res) == 4
    assert res[0] == VECTOR_JSON and res[3] == VECTOR_JSON
    assert "error" in res[1] and "error" in res[2]


def test_stdin_encode_many():
    msg = json.dumps(VECTOR_JSON)
    rc, out, _ = run(["exi", "encode", "--schema", "din", "-"], "\n".join([msg, "{", msg]) + "\n")
    res = out.splitlines()
    assert rc == 0 and res[0] == VECTOR and res[2] == VECTOR and "error" in json.loads(res[1])


def test_iso20_encode_picks_dc_grammar_for_dc_messages():
    msg = {"DC_CableCheckReq": {"Header": {"SessionID": "0102030405060708", "TimeStamp": 1}}}
    rc, out, _ = run(["exi", "encode", "--schema", "iso20", json.dumps(msg)])
    assert rc == 0
    rc, out2, _ = run(["exi", "decode", "--schema", "iso20dc", out.strip()])
    assert json.loads(out2) == msg
    rc, out3, _ = run(["exi", "decode", "--schema", "iso20", out.strip()])
    assert rc == 0 and json.loads(out3) == msg


def test_console_script_thousands_of_lines():
    exe = os.path.join(os.path.dirname(sys.executable), "v2xbox")
    data = (VECTOR + "\n") * 3000
    p = subprocess.run([exe, "exi", "decode", "--schema", "din", "-"], input=data, capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 0
    outs = p.stdout.splitlines()
    assert len(outs) == 3000 and json.loads(outs[-1]) == VECTOR_JSON
    p = subprocess.run([exe, "exi", "decode", "--schema", "din", "00"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode != 0 and p.stderr
