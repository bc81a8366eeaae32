def test_create_member_and_mint(api):
    r = api.post("/members", json={"profile": {"email": "a@example.com", "givenName": "Ann"}})
    assert r.status_code == 201, r.json
    member = r.json["member"]
    assert member["identifiers"][0]["type"] == "CARDCODE"
    lmid = member["loyaltyMemberId"]
    r = api.post(f"/loyalty-members/{lmid}/mint", json={"amount": 70, "systemUniqueKey": "k1"})
    assert r.status_code == 201, r.json
    r = api.get(f"/members/{member['id']}/wallet")
    assert r.json["balances"][0]["balance"] == 70
