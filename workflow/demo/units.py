"""The two notices' organisations, as realistic demo data.

ncut-info: 北方工业大学信息学院 — the notice goes to 各党支部 (no general branches).
minbei: 闽北职业技术学院 — 各党总支 with their branches, and 直属党支部 under the committee.
Each entry: (code, name, level, kind, parent).
"""

NCUT = [
    ("ncut-info", "中共北方工业大学信息学院委员会", "committee", None, None),
    ("ncut-cs-t", "计算机系教工党支部", "branch", "staff", "ncut-info"),
    ("ncut-ee-t", "电子工程系教工党支部", "branch", "staff", "ncut-info"),
    ("ncut-au-t", "自动化系教工党支部", "branch", "staff", "ncut-info"),
    ("ncut-office", "学院机关党支部", "branch", "office", "ncut-info"),
    ("ncut-ug1", "本科生第一党支部", "branch", "student", "ncut-info"),
    ("ncut-ug2", "本科生第二党支部", "branch", "student", "ncut-info"),
    ("ncut-pg1", "研究生第一党支部", "branch", "student", "ncut-info"),
    ("ncut-pg2", "研究生第二党支部", "branch", "student", "ncut-info"),
]

MINBEI = [
    ("minbei", "中共闽北职业技术学院委员会", "committee", None, None),
    ("mb-jd", "机电工程系党总支", "general_branch", None, "minbei"),
    ("mb-jd-t", "机电工程系教工党支部", "branch", "staff", "mb-jd"),
    ("mb-jd-s", "机电工程系学生党支部", "branch", "student", "mb-jd"),
    ("mb-xx", "信息与设计系党总支", "general_branch", None, "minbei"),
    ("mb-xx-t", "信息与设计系教工党支部", "branch", "staff", "mb-xx"),
    ("mb-xx-s", "信息与设计系学生党支部", "branch", "student", "mb-xx"),
    ("mb-jg", "经济管理系党总支", "general_branch", None, "minbei"),
    ("mb-jg-t", "经济管理系教工党支部", "branch", "staff", "mb-jg"),
    ("mb-jg-s", "经济管理系学生党支部", "branch", "student", "mb-jg"),
    ("mb-yx", "医学系党总支", "general_branch", None, "minbei"),
    ("mb-yx-t", "医学系教工党支部", "branch", "staff", "mb-yx"),
    ("mb-yx-s", "医学系学生党支部", "branch", "student", "mb-yx"),
    ("mb-ny", "农业与生物技术系党总支", "general_branch", None, "minbei"),
    ("mb-ny-t", "农业与生物技术系教工党支部", "branch", "staff", "mb-ny"),
    ("mb-ny-s", "农业与生物技术系学生党支部", "branch", "student", "mb-ny"),
    ("mb-jg1", "机关第一党支部", "branch", "office", "minbei"),
    ("mb-jg2", "机关第二党支部", "branch", "office", "minbei"),
    ("mb-ts", "图书馆党支部", "branch", "office", "minbei"),
]

# Secretaries and brand leads, one of each per unit, with plausible names.
PEOPLE = {
    "ncut-cs-t": ("王建国", "李晓梅"),
    "ncut-ee-t": ("张伟", "刘芳"),
    "ncut-au-t": ("陈立新", "赵敏"),
    "ncut-office": ("孙丽华", "周强"),
    "ncut-ug1": ("吴静", "郑浩然"),
    "ncut-ug2": ("冯雪", "蒋一鸣"),
    "ncut-pg1": ("韩冬", "杨思远"),
    "ncut-pg2": ("朱红", "秦宇航"),
    "mb-jd": ("黄志明", "林国栋"),
    "mb-jd-t": ("许文斌", "何丽娟"),
    "mb-jd-s": ("邱少华", "罗嘉怡"),
    "mb-xx": ("詹永辉", "范晓东"),
    "mb-xx-t": ("魏海燕", "蔡明亮"),
    "mb-xx-s": ("游佳琪", "黎晨"),
    "mb-jg": ("谢春梅", "彭建华"),
    "mb-jg-t": ("曾丽萍", "苏文杰"),
    "mb-jg-s": ("叶思琪", "潘宇"),
    "mb-yx": ("卢丽琴", "江涛"),
    "mb-yx-t": ("余秀兰", "方志鹏"),
    "mb-yx-s": ("杜欣怡", "严浩"),
    "mb-ny": ("傅建平", "钟丽"),
    "mb-ny-t": ("邓伟民", "袁小红"),
    "mb-ny-s": ("熊梓涵", "田嘉豪"),
    "mb-jg1": ("汪晓燕", "高立群"),
    "mb-jg2": ("沈国华", "陆雅琴"),
    "mb-ts": ("程秀英", "姚斌"),
}

STAFF = [
    # username, name, roles, unit
    ("admin", "系统管理员", ["admin"], None),
    ("org", "组织部 王老师", ["organizer"], None),
    ("auditor", "纪委 审计员", ["auditor"], None),
    ("reviewer1", "评审专家 李教授", ["reviewer"], None),
    ("reviewer2", "评审专家 陈书记", ["reviewer"], None),
    ("reviewer3", "评审专家 刘主任", ["reviewer"], None),
    ("reviewer4", "评审专家 黄老师", ["reviewer"], None),
    ("reviewer5", "评审专家 周老师", ["reviewer"], None),
]
