"""The vendors' worked signing examples (specs/providers.md V1-V6), byte for byte, through our code."""

from __future__ import annotations

import hashlib

import pytest
from fakes import json_response
from fakes.alidns import AliDnsFake
from fakes.server import FakeHttp
from fakes.tencentcloud import TencentCloudFake

from ddns_agent.providers.alidns import AliDns
from ddns_agent.providers.base import RecordSpec, Remote
from ddns_agent.providers.signing import rpc_encode, rpc_signature, rpc_string_to_sign, tc3_sign
from ddns_agent.providers.tencentcloud import TencentCloud
from ddns_agent.secret import Secret

# -- Tencent Cloud TC3-HMAC-SHA256 (§2.3) -----------------------------------------------------------

CVM_PAYLOAD = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
CVM_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Host": "cvm.tencentcloudapi.com"}
V1_ID, V1_KEY = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", "Gu5t9xGARNpq86cd98joQYCN3*******"
V4_PAYLOAD = '{"Domain":"example.com","SubDomain":"home","RecordId":162,"RecordLine":"默认",' \
             '"Value":"203.0.113.7"}'.encode()


def test_v1_two_signed_headers():
    sig = tc3_sign(V1_ID, V1_KEY, "cvm", 1551113065, CVM_HEADERS, CVM_PAYLOAD)
    assert hashlib.sha256(CVM_PAYLOAD).hexdigest() == \
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    assert sig.canonical_request == (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n"
        "content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    assert sig.hashed_canonical_request == "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    assert sig.string_to_sign == ("TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
                                  "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031")
    assert sig.secret_date.hex() == "f1cb4d518a0eda9d5cbbfdb7850983f1e603eeae484edea76e4dd8d8deb5556e"
    assert sig.secret_service.hex() == "e7c609ce81bea53546bed2cc904778bef9ca14082e48e67883443ed64e227cd7"
    assert sig.secret_signing.hex() == "8aa8ab5755582f576e94bcfe383b8e29325b0ca90c3590d569221c6a63a091ed"
    assert sig.signature == "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    assert sig.authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c")


def test_v2_action_header_signed_and_lower_cased():
    headers = dict(CVM_HEADERS, **{"X-TC-Action": "DescribeInstances"})
    sig = tc3_sign(V1_ID, V1_KEY, "cvm", 1551113065, headers, CVM_PAYLOAD)
    assert "\nx-tc-action:describeinstances\n\ncontent-type;host;x-tc-action\n" in sig.canonical_request
    assert sig.hashed_canonical_request == "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
    assert sig.signature == "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3"


def test_v3_masked_key_intermediates_and_signature():
    headers = dict(CVM_HEADERS, **{"X-TC-Action": "DescribeInstances"})
    sig = tc3_sign("AKID" + "*" * 32, "*" * 32, "cvm", 1551113065, headers, CVM_PAYLOAD)
    assert sig.secret_date.hex() == "da98fb70dcf6b112dc21038d1eeeb3a95c74b4dcb12c1131f864f6066bd02be0"
    assert sig.secret_service.hex() == "8d70cbefb03939f929db64d32dc2ba89b1095620119fe3e050e2b18c5bd2752f"
    assert sig.secret_signing.hex() == "b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af"
    assert sig.signature == "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
    assert sig.authorization.startswith("TC3-HMAC-SHA256 Credential=AKID%s/2019-02-25/cvm/tc3_request, "
                                        "SignedHeaders=content-type;host;x-tc-action, " % ("*" * 32))


def test_v4_dnspod_modify_dynamic_dns():
    headers = {"Content-Type": "application/json; charset=utf-8", "Host": "dnspod.tencentcloudapi.com",
               "X-TC-Action": "ModifyDynamicDNS"}
    sig = tc3_sign("AKIDEXAMPLE", "SECRETEXAMPLE", "dnspod", 1700000000, headers, V4_PAYLOAD)
    assert hashlib.sha256(V4_PAYLOAD).hexdigest() == \
        "4fdf23b76d010feba133665e7a1dd7823fed09a31437744a503244a4e13eae5a"
    assert sig.credential_scope == "2023-11-14/dnspod/tc3_request"
    assert sig.hashed_canonical_request == "ec252e82464ccf8b22eadd4fc0b86d7fea489ff8f1e99df5a243e2065a412f5a"
    assert sig.signature == "87d00456754f4c69823c2ea35a0c719a7ff046f682ed4422fd6852a443d3515c"


def test_the_tencentcloud_provider_sends_the_v4_request_with_the_ttl_kept():
    sent = []

    def answer(req):
        sent.append(req)
        return json_response({"Response": {"RecordId": 162, "RequestId": "9a7f1c5e"}})

    http = FakeHttp(answer, url="https://dnspod.tencentcloudapi.com")
    provider = TencentCloud({"secret_id": "AKIDEXAMPLE", "secret_key": Secret("SECRETEXAMPLE")}, http)
    provider.clock = lambda: 1700000000.9
    provider.update(RecordSpec("home", "example.com", "home", "A"), Remote("162", "203.0.113.5", 600),
                    "203.0.113.7")
    [req] = sent
    # V4's payload plus the record's TTL, which ModifyDynamicDNS would otherwise reset
    assert req.body == V4_PAYLOAD[:-1] + b',"Ttl":600}'
    assert req.headers["host"] == "dnspod.tencentcloudapi.com"
    assert (req.headers["x-tc-action"], req.headers["x-tc-version"], req.headers["x-tc-timestamp"]) == (
        "ModifyDynamicDNS", "2021-03-23", "1700000000")
    assert req.headers["authorization"].startswith(
        "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2023-11-14/dnspod/tc3_request, "
        "SignedHeaders=content-type;host;x-tc-action, Signature=")
    fake = TencentCloudFake("AKIDEXAMPLE", "SECRETEXAMPLE", clock=lambda: 1700000100)
    assert fake.check_signature(req.headers, req.body) is None  # the fake's own TC3 code agrees


def test_the_tencentcloud_fake_accepts_v4_and_refuses_it_with_another_key():
    headers = {"content-type": "application/json; charset=utf-8", "host": "dnspod.tencentcloudapi.com",
               "x-tc-action": "ModifyDynamicDNS", "x-tc-version": "2021-03-23",
               "x-tc-timestamp": "1700000000",
               "authorization": "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2023-11-14/dnspod/tc3_request, "
                                "SignedHeaders=content-type;host;x-tc-action, "
                                "Signature=87d00456754f4c69823c2ea35a0c719a7ff046f682ed4422fd6852a443d3515c"}
    fake = TencentCloudFake("AKIDEXAMPLE", "SECRETEXAMPLE", clock=lambda: 1700000100)
    assert fake.check_signature(headers, V4_PAYLOAD) is None
    assert fake.check_signature(headers, V4_PAYLOAD.replace(b"162", b"163")) == "AuthFailure.SignatureFailure"
    other = TencentCloudFake("AKIDEXAMPLE", "SECRETEXAMPLf", clock=lambda: 1700000100)
    assert other.check_signature(headers, V4_PAYLOAD) == "AuthFailure.SignatureFailure"
    late = TencentCloudFake("AKIDEXAMPLE", "SECRETEXAMPLE", clock=lambda: 1700000301)
    assert late.check_signature(headers, V4_PAYLOAD) == "AuthFailure.SignatureExpire"


# -- Alibaba Cloud RPC v1 HMAC-SHA1 (§3.4) ----------------------------------------------------------

V5 = {"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML", "SignatureMethod": "HMAC-SHA1",
      "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
      "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26"}
V6 = {"AccessKeyId": "testid", "Action": "DescribeDomainRecords", "DomainName": "example.com",
      "Format": "XML", "SignatureMethod": "HMAC-SHA1",
      "SignatureNonce": "f59ed6a9-83fc-473b-9cc6-99c95df3856e", "SignatureVersion": "1.0",
      "Timestamp": "2016-03-24T16:41:54Z", "Version": "2015-01-09"}


def test_v5_ecs_describe_regions():
    sts = rpc_string_to_sign("GET", V5)
    assert sts == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3D"
        "HMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26"
        "Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26")
    signature = rpc_signature("testsecret", sts)
    assert signature == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert rpc_encode(signature) == "OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D"


def test_v6_alidns_describe_domain_records():
    sts = rpc_string_to_sign("GET", V6)
    assert sts == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeDomainRecords%26DomainName%3Dexample.com%26"
        "Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3Df59ed6a9-83fc-473b-9cc6-99c95df3856e"
        "%26SignatureVersion%3D1.0%26Timestamp%3D2016-03-24T16%253A41%253A54Z%26Version%3D2015-01-09")
    assert rpc_signature("testsecret", sts) == "uRpHwaSEt3J+6KQD//svCh/x+pI="


@pytest.mark.parametrize("text, encoded", [("a b", "a%20b"), ("a*b", "a%2Ab"), ("a~b", "a~b"),
                                           ("默认", "%E9%BB%98%E8%AE%A4"), ("a+b=c/d", "a%2Bb%3Dc%2Fd")])
def test_rpc_percent_encoding_follows_the_rules(text, encoded):
    assert rpc_encode(text) == encoded


def test_the_alidns_fake_accepts_v6_and_refuses_it_with_another_secret():
    signed = dict(V6, Signature="uRpHwaSEt3J+6KQD//svCh/x+pI=")
    then = 1458837714  # 2016-03-24T16:41:54Z
    assert AliDnsFake("testid", "testsecret", clock=lambda: then + 60).check_signature("GET", signed) is None
    assert AliDnsFake("testid", "testsecreT", clock=lambda: then).check_signature("GET", signed) == \
        "SignatureDoesNotMatch"
    assert AliDnsFake("testid", "testsecret", clock=lambda: then).check_signature("POST", signed) == \
        "SignatureDoesNotMatch"
    assert AliDnsFake("testid", "testsecret", clock=lambda: then + 901).check_signature("GET", signed) == \
        "InvalidTimeStamp.Expired"


def test_the_alidns_provider_signs_what_it_sends():
    sent = []

    def answer(req):
        sent.append(req)
        return json_response({"RequestId": "B6E4A5E2", "RecordId": "9999985"})

    http = FakeHttp(answer, url="https://alidns.aliyuncs.com")
    provider = AliDns({"access_key_id": "testid", "access_key_secret": Secret("testsecret")}, http)
    provider.clock = lambda: 1458837714.5
    provider.nonce = lambda: "f59ed6a9-83fc-473b-9cc6-99c95df3856e"
    provider.update(RecordSpec("home", "example.com", "home", "A"), Remote("9999985", "203.0.113.5", 600),
                    "203.0.113.7")
    [req] = sent
    form = req.form
    signature = form.pop("Signature")
    assert form == {"AccessKeyId": "testid", "Action": "UpdateDomainRecord", "Format": "JSON",
                    "RR": "home", "RecordId": "9999985", "SignatureMethod": "HMAC-SHA1",
                    "SignatureNonce": "f59ed6a9-83fc-473b-9cc6-99c95df3856e", "SignatureVersion": "1.0",
                    "Timestamp": "2016-03-24T16:41:54Z", "Type": "A", "Value": "203.0.113.7",
                    "Version": "2015-01-09", "TTL": "600"}
    assert signature == rpc_signature("testsecret", rpc_string_to_sign("POST", form))
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"


# -- Huawei Cloud SDK-HMAC-SHA256 (docs/providers/huaweicloud.md, specs/providers.md §7.1 V8) --------

V8_AK, V8_SK = "QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
V8_HEADERS = {"Content-Type": "application/json", "Host": "service.region.example.com",
              "X-Sdk-Date": "20191115T033655Z"}


def test_v8_huawei_vpc_list():
    from ddns_agent.providers.huaweicloud import sdk_query, sdk_sign

    query = sdk_query({"marker": "13551d6b-755d-4757-b956-536f674975c0", "limit": 2})
    assert query == "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"
    sig = sdk_sign(V8_AK, V8_SK, "GET", "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs", query, V8_HEADERS, b"")
    assert sig.canonical_request == (
        "GET\n/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\nlimit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n"
        "content-type:application/json\nhost:service.region.example.com\nx-sdk-date:20191115T033655Z\n\n"
        "content-type;host;x-sdk-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert sig.hashed_canonical_request == "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
    assert sig.string_to_sign == ("SDK-HMAC-SHA256\n20191115T033655Z\n"
                                  "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a")
    assert sig.signature == "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
    assert sig.authorization == (
        "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, "
        "Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe")


# -- Volcengine HMAC-SHA256 (docs/providers/volcengine.md: volcengine.com/docs/6369/67270) ------------

V10_AK = "AKLTYWViMTVmZGYzM2E0NDI5Mzk2MDZjNjFmMjc2MjRjMzg"
V10_SK = "WkRZeE1EQmxPVGhsWWpWak5HVmtNbUUxTXpZeU9UVXlOMlE1TmpZeVlqTQ=="


def test_v10_volcengine_iam_list_users():
    from ddns_agent.providers.signing import v4_query, v4_sign

    query = v4_query({"Action": "ListUsers", "Version": "2018-01-01", "Limit": 10, "Offset": 0})
    assert query == "Action=ListUsers&Limit=10&Offset=0&Version=2018-01-01"
    sig = v4_sign("HMAC-SHA256", "", "request", V10_AK, V10_SK, "cn-beijing", "iam", "GET", "/", query,
                  {"Host": "iam.volcengineapi.com", "X-Date": "20240619T071306Z"},
                  hashlib.sha256(b"").hexdigest())
    assert sig.canonical_request == (
        "GET\n/\nAction=ListUsers&Limit=10&Offset=0&Version=2018-01-01\nhost:iam.volcengineapi.com\n"
        "x-date:20240619T071306Z\n\nhost;x-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert sig.hashed_canonical_request == "5ed5bca3905e1fcbf789abb56a17c2d819674a3bcfa468ae476bd1ea80d135cb"
    assert sig.string_to_sign == ("HMAC-SHA256\n20240619T071306Z\n20240619/cn-beijing/iam/request\n"
                                  "5ed5bca3905e1fcbf789abb56a17c2d819674a3bcfa468ae476bd1ea80d135cb")
    assert sig.signing_key.hex() == "abee62e533a58934c49954459a3c3237d2fccea517c9a7c8a2651d8ea7779826"
    assert sig.signature == "e31c4558bcfe08a286001f59cedbf0791ffd0b2362f10e55ee2627467bcdde93"
    assert sig.authorization == (
        "HMAC-SHA256 Credential=AKLTYWViMTVmZGYzM2E0NDI5Mzk2MDZjNjFmMjc2MjRjMzg/20240619/cn-beijing/iam/"
        "request, SignedHeaders=host;x-date, "
        "Signature=e31c4558bcfe08a286001f59cedbf0791ffd0b2362f10e55ee2627467bcdde93")


# -- AWS SigV4 (docs/providers/route53.md: the AWS SigV4 test suite, get-vanilla) ---------------------

def test_v11_aws_sigv4_test_suite_get_vanilla():
    from ddns_agent.providers.signing import v4_sign

    sig = v4_sign("AWS4-HMAC-SHA256", "AWS4", "aws4_request", "AKIDEXAMPLE",
                  "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service", "GET", "/", "",
                  {"Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z"},
                  hashlib.sha256(b"").hexdigest())
    assert sig.canonical_request == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert sig.string_to_sign == ("AWS4-HMAC-SHA256\n20150830T123600Z\n"
                                  "20150830/us-east-1/service/aws4_request\n"
                                  "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63")
    assert sig.authorization == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
